// The inner loops of attention over one head, and the SwiGLU gate, as a plain-C table: a portable
// version and, on x86, an AVX2 one (attention_avx2.cpp, compiled with -mavx2, so it includes only
// this header and intrinsics). Both give bit-identical results: integer dot products are exact,
// float sums run in the same lane order with separate multiply and add (no FMA contraction),
// and the softmax and the gate repeat exp_poly's operations lane by lane.
#pragma once

#include <cstdint>

namespace hilq::runtime {

struct AttnOps {
  // out[j] = scale * (float(sum_e q[e] k[j][e]) * (q_scale * k_scale[j])), j < keys.
  void (*scores_i8)(const int8_t* q, float q_scale, const int8_t* k, int64_t ldk,
                    const float* k_scale, int keys, int d, float scale, float* out);
  // out[j] = scale * sum_e q[e] k[j][e] (8-lane partial sums, fixed reduction tree).
  void (*scores_f32)(const float* q, const float* k, int64_t ldk, int keys, int d, float scale,
                     float* out);
  // p[j] = e[j] / z, j < keys (>= 1): e[j] = exp_poly(p[j] - max), z = sum of e[j] in 16 lanes
  // (lane l: j = l mod 16, in order) reduced ((l, l+8), (l, l+4), (l, l+2), (0, 1)).
  void (*softmax)(float* p, int keys);
  // out[e] = sum_j (p[j] * v_scale[j]) * v[j][e], j in key order.
  void (*apply_i8)(const float* p, const int8_t* v, int64_t ldv, const float* v_scale, int keys,
                   int d, float* out);
  // out[e] = sum_j p[j] * v[j][e].
  void (*apply_f32)(const float* p, const float* v, int64_t ldv, int keys, int d, float* out);
  // g[i] = (g[i] * (1 / (1 + exp_poly(-g[i])))) * u[i], i < n: SiLU of the gate times up.
  void (*swiglu)(float* g, const float* u, int n);
  const char* name;
};

extern const AttnOps kAttnOpsPortable;
#if defined(HILQ_RUNTIME_HAVE_AVX2)
extern const AttnOps kAttnOpsAvx2;
#endif
#if defined(HILQ_RUNTIME_HAVE_AVX512)
// AVX-512 scores_i8 (vpdpbusd, 16 keys reduced together), softmax, apply_i8 (64 columns per
// pass, nonzero weights only) and SwiGLU gate (attention_avx512.cpp); the float scores and apply
// stay AVX2's.
using ScoresI8Fn = void (*)(const int8_t* q, float q_scale, const int8_t* k, int64_t ldk,
                            const float* k_scale, int keys, int d, float scale, float* out);
extern const ScoresI8Fn kScoresI8Avx512;
using SoftmaxFn = void (*)(float* p, int keys);
extern const SoftmaxFn kSoftmaxAvx512;
using ApplyI8Fn = void (*)(const float* p, const int8_t* v, int64_t ldv, const float* v_scale,
                           int keys, int d, float* out);
extern const ApplyI8Fn kApplyI8Avx512;
using SwigluFn = void (*)(float* g, const float* u, int n);
extern const SwigluFn kSwigluAvx512;
#endif

}  // namespace hilq::runtime
