// The log-softmax front and its portable ops (see log_softmax.h).
#include "search/log_softmax.h"

#include <algorithm>
#include <cmath>

#include "kernels/isa.h"
#include "runtime/exp_poly.h"

namespace hilq::search {

#if defined(HILQ_SEARCH_HAVE_AVX2)
extern const LogSoftmaxOps kLogSoftmaxAvx2;
#endif
#if defined(HILQ_SEARCH_HAVE_AVX512)
extern const LogSoftmaxOps kLogSoftmaxAvx512;
#endif

namespace {

void exp_sums_portable(const float* x, int n, float max, double lanes[16], const float* const* pf) {
  for (int l = 0; l < 16; ++l) lanes[l] = 0;
  for (int i = 0; i < n; ++i) {
    if (pf && (i & 15) == 0) prefetch_lines(pf, i);
    lanes[i & 15] += static_cast<double>(runtime::exp_poly(x[i] - max));
  }
}

void shift_portable(const float* x, int n, double lse, float* out) {
  for (int i = 0; i < n; ++i) out[i] = static_cast<float>(static_cast<double>(x[i]) - lse);
}

// The maximum runs in 8 independent lanes (exact: a maximum does not depend on order; a NaN logit
// is skipped, or kept when it is the first, as a running std::max keeps it).
float max_portable(const float* x, int n) {
  float lane[8];
  const int n8 = n >= 8 ? n / 8 * 8 : 0;
  for (int l = 0; l < 8; ++l) lane[l] = n8 ? x[l] : x[0];
  for (int i = 8; i < n8; i += 8)
    for (int l = 0; l < 8; ++l) lane[l] = lane[l] < x[i + l] ? x[i + l] : lane[l];
  float max = lane[0];
  for (int l = 1; l < 8; ++l) max = std::max(max, lane[l]);
  for (int i = n8; i < n; ++i) max = std::max(max, x[i]);
  return max;
}

void kl8_portable(const float* const* ref, const float* const* p, const float* const* dst, int n,
                  double k[8]) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < n; ++i)
    for (int r = 0; r < 8; ++r) acc[r] += static_cast<double>(p[r][i]) * (ref[r][i] - dst[r][i]);
  for (int r = 0; r < 8; ++r) k[r] = acc[r];
}

const LogSoftmaxOps kPortable = {&max_portable, &exp_sums_portable, &shift_portable, &kl8_portable,
                                 "portable"};

}  // namespace

const LogSoftmaxOps& log_softmax_portable() { return kPortable; }

const LogSoftmaxOps& log_softmax_ops(int isa) {
#if defined(HILQ_SEARCH_HAVE_AVX512)
  if (kernels::isa_at_most(kernels::Isa::kAvx512Vnni, static_cast<kernels::Isa>(isa)))
    return kLogSoftmaxAvx512;
#endif
#if defined(HILQ_SEARCH_HAVE_AVX2)
  if (kernels::isa_at_most(kernels::Isa::kAvx2, static_cast<kernels::Isa>(isa)))
    return kLogSoftmaxAvx2;
#endif
  (void)isa;
  return kPortable;
}

void log_softmax(const LogSoftmaxOps& ops, const float* x, int n, float* out,
                 const float* const* pf) {
  const float max = ops.max(x, n);
  double s[16];
  ops.exp_sums(x, n, max, s, pf);
  for (int l = 0; l < 8; ++l) s[l] += s[l + 8];
  for (int l = 0; l < 4; ++l) s[l] += s[l + 4];
  for (int l = 0; l < 2; ++l) s[l] += s[l + 2];
  const double lse = static_cast<double>(max) + std::log(s[0] + s[1]);
  ops.shift(x, n, lse, out);
}

}  // namespace hilq::search
