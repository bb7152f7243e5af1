// AVX2 integer kernels (vpmaddubsw + vpmaddwd). Compiled with -mavx2 -mfma -mf16c.
#define HILQ_YMM_VNNI 0
#include "kernels/x86/mkmp_avx2_impl.h"
