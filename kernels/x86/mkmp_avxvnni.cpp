// AVX-VNNI integer kernels: the AVX2 kernels with vpdpbusd / vpdpwssd on ymm (CPUs with AVX-VNNI
// and without AVX-512, and any forced to this path). Compiled with -mavx2 -mfma -mf16c -mavxvnni.
#define HILQ_YMM_VNNI 1
#include "kernels/x86/mkmp_avx2_impl.h"
