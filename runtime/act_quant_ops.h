// The row quantizer's signature (act_quant.h quantize_row), and its AVX-512 version
// (act_quant_avx512.cpp, compiled with AVX-512 flags, so it includes only this header and
// intrinsics). Both give the same codes, scale and sums bit for bit.
#pragma once

#include <cstdint>

namespace hilq::runtime {

using RowQuantFn = float (*)(const float* x, int cols, int cols_pad, int bits, float scale,
                             int8_t* q, int32_t* sums);

#if defined(HILQ_RUNTIME_HAVE_AVX512)
extern const RowQuantFn kQuantizeRowAvx512;
#endif

}  // namespace hilq::runtime
