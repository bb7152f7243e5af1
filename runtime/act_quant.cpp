// Row quantizers and token-importance rules (see act_quant.h).
#include "runtime/act_quant.h"

#include <cmath>

#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__ARM_NEON)
#include <arm_neon.h>
#endif

#include "kernels/check.h"
#include "kernels/quantize.h"

namespace hilq::runtime {

namespace k = hilq::kernels;

void reserve_acts(int rows, int cols, k::QuantizedActivations* a) {
  const int cols_pad = (cols + k::kActColsAlign - 1) / k::kActColsAlign * k::kActColsAlign;
  a->rows = 0;
  a->cols = cols;
  a->cols_pad = cols_pad;
  a->q.resize(static_cast<size_t>(rows) * cols_pad);
  a->scales.resize(static_cast<size_t>(rows));
  a->bits.assign(static_cast<size_t>(rows), 8);
  a->sums.resize(static_cast<size_t>(rows) * a->sum_stride());
}

int64_t acts_bytes(const k::QuantizedActivations& a) {
  return static_cast<int64_t>(a.q.size() + a.scales.size() * 4 + a.bits.capacity() +
                              a.sums.size() * 4);
}

namespace {

// Largest |x| ignoring NaN (kernels::absmax_scale's fmax loop). The SSE2 loop keeps four
// accumulators (one chain of maxps was bound by its latency): they never hold a NaN, so the
// maximum of the same values is the same whatever the order.
float absmax(const float* x, int cols) {
  int c = 0;
  float m = 0.0f;
#if defined(__SSE2__)
  __m128 vm = _mm_setzero_ps(), v1 = vm, v2 = vm, v3 = vm;
  const __m128 mask = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
  auto abs = [&](int i) { return _mm_and_ps(_mm_loadu_ps(x + i), mask); };
  for (; c + 16 <= cols; c += 16) {
    vm = _mm_max_ps(abs(c), vm);  // NaN: keeps the accumulator
    v1 = _mm_max_ps(abs(c + 4), v1);
    v2 = _mm_max_ps(abs(c + 8), v2);
    v3 = _mm_max_ps(abs(c + 12), v3);
  }
  for (; c + 4 <= cols; c += 4) vm = _mm_max_ps(abs(c), vm);
  vm = _mm_max_ps(_mm_max_ps(vm, v1), _mm_max_ps(v2, v3));
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, vm);
  m = std::fmax(std::fmax(lanes[0], lanes[1]), std::fmax(lanes[2], lanes[3]));
#elif defined(__ARM_NEON)
  float32x4_t vm = vdupq_n_f32(0.0f);
  for (; c + 4 <= cols; c += 4)
    vm = vmaxnmq_f32(vm, vabsq_f32(vld1q_f32(x + c)));  // maxNum: NaN ignored
  m = vmaxnmvq_f32(vm);
#endif
  for (; c < cols; ++c) m = std::fmax(m, std::fabs(x[c]));
  return m;
}

}  // namespace

float quantize_row(const float* x, int cols, int cols_pad, int bits, float scale, int8_t* q,
                   int32_t* sums) {
  if (!(scale > 0.0f)) {
    const float m = absmax(x, cols);
    scale = m > 0.0f ? m / static_cast<float>(k::qmax(bits)) : 1.0f;  // kernels::absmax_scale
  }
  // kernels::quantize_value on whole rows: x / scale (a division, as the contract says), rounded
  // half to even by the conversion in the default rounding mode, clamped; NaN gives 0. Clamping
  // before or after rounding gives the same integer because the bounds are integers.
  int c = 0;
#if defined(__SSE2__)
  const __m128 vs = _mm_set1_ps(scale);
  const __m128 vlo = _mm_set1_ps(static_cast<float>(k::qmin(bits)));
  const __m128 vhi = _mm_set1_ps(static_cast<float>(k::qmax(bits)));
  auto one = [&](const float* p) {
    const __m128 v = _mm_div_ps(_mm_loadu_ps(p), vs);
    const __m128 ordered = _mm_cmpord_ps(v, v);
    const __m128 clamped = _mm_min_ps(_mm_max_ps(v, vlo), vhi);  // max_ps(NaN, lo) = lo
    return _mm_and_si128(_mm_cvtps_epi32(clamped), _mm_castps_si128(ordered));
  };
  for (; c + 16 <= cols; c += 16) {
    const __m128i a = _mm_packs_epi32(one(x + c), one(x + c + 4));
    const __m128i b = _mm_packs_epi32(one(x + c + 8), one(x + c + 12));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + c), _mm_packs_epi16(a, b));
  }
#elif defined(__ARM_NEON)
  const float32x4_t vs = vdupq_n_f32(scale);
  const int32x4_t vlo = vdupq_n_s32(k::qmin(bits)), vhi = vdupq_n_s32(k::qmax(bits));
  auto one = [&](const float* p) {
    // fcvtns: round half to even, NaN -> 0, saturating; then the clamp.
    const int32x4_t i = vcvtnq_s32_f32(vdivq_f32(vld1q_f32(p), vs));
    return vminq_s32(vmaxq_s32(i, vlo), vhi);
  };
  for (; c + 16 <= cols; c += 16) {
    const int16x8_t a = vcombine_s16(vqmovn_s32(one(x + c)), vqmovn_s32(one(x + c + 4)));
    const int16x8_t b = vcombine_s16(vqmovn_s32(one(x + c + 8)), vqmovn_s32(one(x + c + 12)));
    vst1q_s8(q + c, vcombine_s8(vqmovn_s16(a), vqmovn_s16(b)));
  }
#endif
  for (; c < cols; ++c) q[c] = static_cast<int8_t>(k::quantize_value(x[c], scale, bits));
  for (c = cols; c < cols_pad; ++c) q[c] = 0;
  if (sums) {
    int32_t total = 0;
    for (int c0 = 0; c0 < cols_pad; c0 += 32) {
#if defined(__SSE2__)
      // code + 128 as unsigned bytes summed by psadbw (exact integers), minus 32 x 128.
      const __m128i flip = _mm_set1_epi8(static_cast<char>(0x80));
      const auto* p = reinterpret_cast<const __m128i*>(q + c0);
      const __m128i zero = _mm_setzero_si128();
      const __m128i u =
          _mm_add_epi64(_mm_sad_epu8(_mm_xor_si128(_mm_loadu_si128(p), flip), zero),
                        _mm_sad_epu8(_mm_xor_si128(_mm_loadu_si128(p + 1), flip), zero));
      const int32_t s = _mm_cvtsi128_si32(u) + _mm_cvtsi128_si32(_mm_srli_si128(u, 8)) - 32 * 128;
#else
      int32_t s = 0;
      for (int i = c0; i < c0 + 32; ++i) s += q[i];
#endif
      sums[c0 / 32] = s;
      total += s;
    }
    sums[cols_pad / 32] = total;
  }
  return scale;
}

RowQuantFn row_quantizer(const k::Context& ctx) {
#if defined(HILQ_RUNTIME_HAVE_AVX512)
  if (k::isa_at_most(k::Isa::kAvx512Vnni, ctx.isa())) return kQuantizeRowAvx512;
#endif
  (void)ctx;
  return &quantize_row;
}

namespace {

float row_scale(const ActQuant& p, int bits) {
  if (p.dynamic) return 0.0f;
  return bits == p.bits ? p.scale_hi : p.scale_lo;
}

}  // namespace

void quantize_rows(const ActQuant& p, const float* x, int n, int cols, int64_t ldx,
                   const uint8_t* high, k::QuantizedActivations* a, RowQuantFn quant) {
  const int cols_pad = (cols + k::kActColsAlign - 1) / k::kActColsAlign * k::kActColsAlign;
  a->rows = n;
  a->cols = cols;
  a->cols_pad = cols_pad;
  const int64_t stride = a->sum_stride();
  HILQ_CHECK(static_cast<size_t>(n) * cols_pad <= a->q.size() &&
                 a->bits.size() >= static_cast<size_t>(n) &&
                 static_cast<size_t>(n * stride) <= a->sums.size(),
             "activation buffer for %d x %d not reserved", n, cols);
  for (int t = 0; t < n; ++t) {
    const int bits = p.bits_of(high, t);
    a->bits[static_cast<size_t>(t)] = static_cast<uint8_t>(bits);
    a->scales[static_cast<size_t>(t)] =
        quant(x + t * ldx, cols, cols_pad, bits, row_scale(p, bits),
              a->q.data() + int64_t{t} * cols_pad, a->sums.data() + t * stride);
  }
}

void quantize_codes(const ActQuant& p, const float* x, int n, int cols, int64_t ldx,
                    const uint8_t* high, int8_t* q, int64_t ldq, float* scales, RowQuantFn quant) {
  for (int t = 0; t < n; ++t) {
    const int bits = p.bits_of(high, t);
    scales[t] = quant(x + t * ldx, cols, cols, bits, row_scale(p, bits), q + t * ldq, nullptr);
  }
}

void fake_quantize(const ActQuant& p, const float* x, int n, int cols, int64_t ldx,
                   const uint8_t* high, float* y, int64_t ldy, RowQuantFn quant) {
  constexpr int kChunk = 256;
  int8_t q[kChunk];
  for (int t = 0; t < n; ++t) {
    const int bits = p.bits_of(high, t);
    float s = row_scale(p, bits);
    if (!(s > 0.0f)) {
      float m = 0.0f;
      for (int c = 0; c < cols; ++c) m = std::fmax(m, std::fabs(x[t * ldx + c]));
      s = m > 0.0f ? m / static_cast<float>(k::qmax(bits)) : 1.0f;
    }
    for (int c0 = 0; c0 < cols; c0 += kChunk) {
      const int len = cols - c0 < kChunk ? cols - c0 : kChunk;
      quant(x + t * ldx + c0, len, len, bits, s, q, nullptr);
      for (int c = 0; c < len; ++c) y[t * ldy + c0 + c] = k::dequantize_value(q[c], s);
    }
  }
}

int high_count(double fraction, int n) {
  const int c = static_cast<int>(std::ceil(fraction * n - 1e-9));
  return c < 0 ? 0 : (c > n ? n : c);
}

void top_fraction_mask(const float* score, int n, double fraction, uint8_t* high) {
  const int top = high_count(fraction, n);
  for (int i = 0; i < n; ++i) {
    int better = 0;  // tokens ahead of i in a stable descending sort
    for (int j = 0; j < n; ++j) better += score[j] > score[i] || (j < i && score[j] == score[i]);
    high[i] = better < top ? 1 : 0;
  }
}

bool decode_high(const float* seen, int n, float score, double fraction) {
  int above = 0;
  for (int i = 0; i < n; ++i) above += seen[i] > score;
  return above < high_count(fraction, n);
}

}  // namespace hilq::runtime
