// Scalar reference kernels (the `__ref` oracles and fallbacks): integer GEMV/GEMM for every
// (w_bits, a_bits, group), the FP32 / FP16-storage baselines and the activation quantizer.
// They unpack the packed codes to signed int8 and accumulate q_w * q_a directly (no offset trick),
// so the SIMD paths are checked against the plain definition.
#include <cmath>
#include <deque>
#include <string>
#include <vector>

#include "kernels/isa.h"
#include "kernels/kernel_iface.h"
#include "kernels/mkmp.h"
#include "kernels/pack.h"
#include "kernels/quantize.h"

namespace hilq::kernels {
namespace {

void int_ref(const KernelArgs& k) {
  PackedLayout l;
  l.rows = k.rows;
  l.cols = k.cols_pad;
  l.w_bits = k.w_bits;
  l.group = k.group;
  thread_local std::vector<int8_t> wq;
  wq.resize(static_cast<size_t>(kPanelRows) * k.cols_pad);
  const int g_len = k.group ? k.group : k.cols_pad;
  for (int p = k.panel_begin; p < k.panel_end; ++p) {
    unpack_panel(l, k.w_data + p * k.panel_bytes, wq.data());
    for (int t = 0; t < k.n; ++t) {
      const int row = k.a_rows[t];
      const int8_t* a = k.a + row * k.lda;
      const float a_scale = k.a_scales[row];
      for (int r = 0; r < kPanelRows; ++r) {
        const int m = p * kPanelRows + r;
        if (m >= k.rows) break;
        const int8_t* w = wq.data() + static_cast<size_t>(r) * k.cols_pad;
        float f = 0.0f;
        for (int g = 0; g < k.groups; ++g) {
          int32_t acc = 0;
          for (int c = g * g_len; c < (g + 1) * g_len; ++c) acc += int32_t{w[c]} * a[c];
          if (k.acc) {
            k.acc[(int64_t{row} * k.rows + m) * k.groups + g] = acc;
          } else if (k.group) {
            f = std::fma(static_cast<float>(acc),
                         k.w_scales[(int64_t{p} * k.groups + g) * kPanelRows + r], f);
          } else {
            f = static_cast<float>(acc);
          }
        }
        if (k.acc) continue;
        const float b = k.bias ? k.bias[m] : 0.0f;
        float* y = k.y + row * k.ldy + m;
        if (k.group)
          *y = std::fma(f, a_scale, b);
        else
          *y = std::fma(f, k.w_scales[m] * a_scale, b);
      }
    }
  }
}

template <bool kHalf>
void fp_ref(const FpArgs& f) {
  for (int t = 0; t < f.n; ++t) {
    const float* x = f.x + t * f.ldx;
    for (int m = f.row_begin; m < f.row_end; ++m) {
      float acc = 0.0f;
      for (int c = 0; c < f.cols; ++c) {
        const int64_t i = int64_t{m} * f.cols + c;
        const float w = kHalf ? half_to_float(static_cast<const uint16_t*>(f.w)[i])
                              : static_cast<const float*>(f.w)[i];
        acc += w * x[c];
      }
      f.y[t * f.ldy + m] = acc + (f.bias ? f.bias[m] : 0.0f);
    }
  }
}

void act_quant_ref(const float* x, int cols, int cols_pad, int bits, int8_t* q, float* scale,
                   int32_t* sums) {
  const float s = absmax_scale(x, cols, bits);
  *scale = s;
  int32_t total = 0;
  for (int c0 = 0; c0 < cols_pad; c0 += 32) {
    int32_t sum = 0;
    for (int c = c0; c < c0 + 32; ++c) {
      const int v = c < cols ? quantize_value(x[c], s, bits) : 0;
      q[c] = static_cast<int8_t>(v);
      sum += v;
    }
    sums[c0 / 32] = sum;
    total += sum;
  }
  sums[cols_pad / 32] = total;
}

std::vector<KernelInfo> build() {
  static std::deque<std::string> names;
  std::vector<KernelInfo> out;
  const int isa = static_cast<int>(Isa::kRef);
  for (int op : {kOpGemv, kOpGemm})
    for (int w : {2, 3, 4, 6, 8})
      for (int a : {4, 8})
        for (int g : {0, 32, 64, 128}) {
          std::string n = std::string(op == kOpGemv ? "gemv" : "gemm") + "_w" + std::to_string(w) +
                          "a" + std::to_string(a);
          if (g) n += "_g" + std::to_string(g);
          n += "_1x1__ref";
          names.push_back(n);
          out.push_back(
              {names.back().c_str(), op, kKindInt, isa, w, a, g, kVariantDot, &int_ref, nullptr});
        }
  out.push_back(
      {"gemv_fp32_1x1__ref", kOpGemv, kKindFp32, isa, 32, 32, 0, 0, nullptr, &fp_ref<false>});
  out.push_back(
      {"gemm_fp32_1x1__ref", kOpGemm, kKindFp32, isa, 32, 32, 0, 0, nullptr, &fp_ref<false>});
  out.push_back(
      {"gemv_fp16_1x1__ref", kOpGemv, kKindFp16, isa, 16, 32, 0, 0, nullptr, &fp_ref<true>});
  out.push_back(
      {"gemm_fp16_1x1__ref", kOpGemm, kKindFp16, isa, 16, 32, 0, 0, nullptr, &fp_ref<true>});
  return out;
}

}  // namespace

KernelTable ref_kernel_table() {
  static const std::vector<KernelInfo> kernels = build();
  return {kernels.data(), static_cast<int>(kernels.size()), &act_quant_ref,
          static_cast<int>(Isa::kRef)};
}

}  // namespace hilq::kernels
