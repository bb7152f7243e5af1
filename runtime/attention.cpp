// Attention kernels of the runtime (see attention.h): loops the compiler vectorizes, split over
// query tokens on the kernels' thread pool when the chunk is large enough to pay for it.
#include "runtime/attention.h"

#include <algorithm>
#include <cmath>

#include "kernels/quantize.h"
#include "kernels/thread_pool.h"
#include "runtime/act_quant.h"
#include "runtime/attention_ops.h"
#include "runtime/exp_poly.h"

namespace hilq::runtime {

namespace k = hilq::kernels;

namespace {

void scores_i8(const int8_t* q, float q_scale, const int8_t* k, int64_t ldk, const float* k_scale,
               int keys, int d, float scale, float* out) {
  for (int j = 0; j < keys; ++j) {
    const int8_t* kr = k + j * ldk;
    int32_t acc = 0;
    for (int e = 0; e < d; ++e) acc += int32_t{q[e]} * int32_t{kr[e]};
    out[j] = scale * (static_cast<float>(acc) * (q_scale * k_scale[j]));
  }
}

// 8 lanes, lane l summing e = l mod 8, reduced as ((0+4)+(2+6)) + ((1+5)+(3+7)), then the tail:
// the AVX2 version's order exactly.
void scores_f32(const float* q, const float* k, int64_t ldk, int keys, int d, float scale,
                float* out) {
  const int d8 = d / 8 * 8;
  for (int j = 0; j < keys; ++j) {
    const float* kr = k + j * ldk;
    float a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int e = 0; e < d8; e += 8) {
      for (int l = 0; l < 8; ++l) a[l] += q[e + l] * kr[e + l];
    }
    float s = ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
    for (int e = d8; e < d; ++e) s += q[e] * kr[e];
    out[j] = scale * s;
  }
}

// Keys of weight 0 are skipped (most of them once the probabilities are 8-bit): the sums never
// hold -0 (they start at +0 and every weight is >= 0), and x + (+-0) == x for every other x, so
// skipping changes no bit.
void apply_i8(const float* p, const int8_t* v, int64_t ldv, const float* v_scale, int keys, int d,
              float* out) {
  for (int e = 0; e < d; ++e) out[e] = 0.0f;
  for (int j = 0; j < keys; ++j) {
    const float w = p[j] * v_scale[j];
    if (w == 0.0f) continue;
    const int8_t* vr = v + j * ldv;
    for (int e = 0; e < d; ++e) out[e] += w * static_cast<float>(vr[e]);
  }
}

// The maximum in any order gives the same value (no NaN is kept: std::max(m, NaN) is m, and a
// +-0 tie changes no difference p[j] - m).
void softmax(float* p, int keys) {
  float mx = -INFINITY;
  for (int j = 0; j < keys; ++j) mx = std::max(mx, p[j]);
  float lanes[16] = {};
  for (int j = 0; j < keys; ++j) {
    p[j] = exp_poly(p[j] - mx);
    lanes[j % 16] += p[j];
  }
  for (int w = 8; w >= 1; w /= 2) {
    for (int l = 0; l < w; ++l) lanes[l] += lanes[l + w];
  }
  for (int j = 0; j < keys; ++j) p[j] /= lanes[0];
}

void apply_f32(const float* p, const float* v, int64_t ldv, int keys, int d, float* out) {
  for (int e = 0; e < d; ++e) out[e] = 0.0f;
  for (int j = 0; j < keys; ++j) {
    const float w = p[j];
    const float* vr = v + j * ldv;
    for (int e = 0; e < d; ++e) out[e] += w * vr[e];
  }
}

// Below this many multiply-adds (q·k, or p·v) per thread, one thread does the whole chunk: 32 K
// int8 multiply-adds take a few microseconds, handing a worker cells well under one.
constexpr int64_t kMinWorkPerThread = int64_t{1} << 15;
// Fixed 8-bit quantizer of the attention probabilities (qat/quant.h kProbScale, kProbBits).
constexpr float kProbScale = 1.0f / 127.0f;
constexpr int kProbBits = 8;

struct Job {
  const AttnOps* ops;
  const AttnShape* s;
  const AttnRows* q;
  const AttnRows* k;
  const AttnRows* v;
  float* probs;
  float* out;
  int64_t ldo;
  float scale;
  RowQuantFn quant = nullptr;  // the probabilities' quantizer (quantize_probs)
};

// One (query token t, head h) cell each; a cell writes only its own probabilities and output.
void probs_cell(const Job& j, int t, int h) {
  const AttnShape& s = *j.s;
  const int keys = s.keys(t), D = s.head_dim;
  float* p = j.probs + (int64_t{t} * s.heads + h) * s.stride;
  if (j.q->q) {
    j.ops->scores_i8(j.q->q + t * j.q->ld + h * D, j.q->scale[t], j.k->q + h * D, j.k->ld,
                     j.k->scale, keys, D, j.scale, p);
  } else {
    j.ops->scores_f32(j.q->f + t * j.q->ld + h * D, j.k->f + h * D, j.k->ld, keys, D, j.scale, p);
  }
  j.ops->softmax(p, keys);
}

void apply_cell(const Job& j, int t, int h) {
  const AttnShape& s = *j.s;
  const int keys = s.keys(t), D = s.head_dim;
  const float* p = j.probs + (int64_t{t} * s.heads + h) * s.stride;
  float* oh = j.out + t * j.ldo + h * D;
  if (j.v->q) {
    j.ops->apply_i8(p, j.v->q + h * D, j.v->ld, j.v->scale, keys, D, oh);
  } else {
    j.ops->apply_f32(p, j.v->f + h * D, j.v->ld, keys, D, oh);
  }
}

void quantize_cell(const Job& j, int t, int h) {
  const AttnShape& s = *j.s;
  ActQuant p;  // the fixed 8-bit quantizer of the probabilities
  p.bits = kProbBits;
  p.scale_hi = kProbScale;
  float* row = j.probs + (int64_t{t} * s.heads + h) * s.stride;
  fake_quantize(p, row, 1, s.keys(t), 0, nullptr, row, 0, j.quant);
}

template <void (*Fn)(const Job&, int, int)>
void run_cells(void* ctx, int task) {
  const Job& j = *static_cast<const Job*>(ctx);
  Fn(j, task / j.s->heads, task % j.s->heads);
}

// Every (token, head) cell of the chunk, split over threads by cells (so a decode step's heads
// can go to different threads) when the chunk's multiply-adds reach kMinWorkPerThread each.
template <void (*Fn)(const Job&, int, int)>
void for_cells(k::Context& ctx, const Job& j) {
  const AttnShape& s = *j.s;
  const int64_t work = int64_t{s.n} * (s.p0 + s.n) * s.heads * s.head_dim;
  const int threads =
      static_cast<int>(std::clamp<int64_t>(work / kMinWorkPerThread, 1, ctx.threads()));
  const int cells = s.n * s.heads;
  if (threads == 1) {
    for (int c = 0; c < cells; ++c) Fn(j, c / s.heads, c % s.heads);
    return;
  }
  ctx.pool().run(cells, &run_cells<Fn>, const_cast<Job*>(&j), threads);
}

// qat/ops_basic.cpp silu: x * (1 / (1 + exp(-x))), then times up.
void swiglu(float* g, const float* u, int n) {
  for (int i = 0; i < n; ++i) g[i] = g[i] * (1.0f / (1.0f + exp_poly(-g[i]))) * u[i];
}

}  // namespace

extern const AttnOps kAttnOpsPortable = {&scores_i8, &scores_f32, &softmax,  &apply_i8,
                                         &apply_f32, &swiglu,     "portable"};

const AttnOps& attn_ops(const k::Context& ctx) {
#if defined(HILQ_RUNTIME_HAVE_AVX2) && defined(HILQ_RUNTIME_HAVE_AVX512)
  if (k::isa_at_most(k::Isa::kAvx512Vnni, ctx.isa())) {
    static const AttnOps avx512 = {kScoresI8Avx512, kAttnOpsAvx2.scores_f32, kSoftmaxAvx512,
                                   kApplyI8Avx512,  kAttnOpsAvx2.apply_f32,  kSwigluAvx512,
                                   "avx512"};
    return avx512;
  }
#endif
#if defined(HILQ_RUNTIME_HAVE_AVX2)
  if (k::isa_at_most(k::Isa::kAvx2, ctx.isa())) return kAttnOpsAvx2;
#endif
  (void)ctx;
  return kAttnOpsPortable;
}

// probs and out are written by the cells, through the Job (which clang-tidy does not follow).
void attention_probs(k::Context& ctx, const AttnShape& s, const AttnRows& q, const AttnRows& kr,
                     float* probs,  // NOLINT(readability-non-const-parameter)
                     float* score) {
  const Job j{&attn_ops(ctx),
              &s,
              &q,
              &kr,
              nullptr,
              probs,
              nullptr,
              0,
              1.0f / std::sqrt(static_cast<float>(s.head_dim))};
  for_cells<probs_cell>(ctx, j);
  // The mean over heads of key 0's probability, folded in head order as one thread would.
  for (int t = 0; t < s.n; ++t) {
    float first = 0.0f;
    for (int h = 0; h < s.heads; ++h) first += probs[(int64_t{t} * s.heads + h) * s.stride];
    score[t] = first / static_cast<float>(s.heads);
  }
}

void quantize_probs(k::Context& ctx, const AttnShape& s,
                    float* probs) {  // NOLINT(readability-non-const-parameter)
  const Job j{nullptr, &s, nullptr, nullptr, nullptr, probs, nullptr, 0, 0.0f, row_quantizer(ctx)};
  for_cells<quantize_cell>(ctx, j);
}

void attention_apply(k::Context& ctx, const AttnShape& s, const float* probs, const AttnRows& v,
                     float* out,  // NOLINT(readability-non-const-parameter)
                     int64_t ldo) {
  const Job j{&attn_ops(ctx), &s, nullptr, nullptr, &v, const_cast<float*>(probs), out, ldo, 0.0f};
  for_cells<apply_cell>(ctx, j);
}

}  // namespace hilq::runtime
