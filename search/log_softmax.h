// log-softmax of a row of logits, and the KL terms against a reference, for the host scorer, with
// a portable version and x86 AVX2 / AVX-512 ones (log_softmax_avx2.cpp, log_softmax_avx512.cpp:
// compiled with their ISA flags and no FMA contraction, so they include only this header and
// intrinsics). All three give the same bits: exp is runtime::exp_poly's operation sequence lane
// by lane, its terms are summed in double in 16 lanes (lane l: i = l mod 16, in order) reduced by
// one fixed tree; a KL row is one sum in order, the SIMD paths run 8 rows side by side.
#pragma once

namespace hilq::search {

// out[i] = float(double(x[i]) - lse), lse = max + log(sum_i exp_poly(x[i] - max)) (n >= 1).
// The SIMD parts fill the 16 lane sums and write the output; the front (log_softmax.cpp) takes the
// maximum (8 lanes, exact), reduces the lanes (((l, l+8), (l, l+4)), (l, l+2)), (0, 1)) and adds
// the log.
struct LogSoftmaxOps {
  // The maximum of x[0..n), n >= 1, in 8 lanes (lane l: i = l mod 8) folded in lane order, then
  // the tail past n / 8 * 8 in order: lane = (lane < x ? x : lane), so a NaN is skipped unless it
  // is x[0] (as a running std::max), and a +-0 tie resolves the same way on every path.
  float (*max)(const float* x, int n);
  // lanes[l] = sum of double(exp_poly(x[i] - max)) over i = l (mod 16), i in order. Also
  // prefetches pf[0][0..n) and pf[1][0..n) toward L2 (pf may be null, or either pointer), a
  // cache line of each per 16 values: memory its caller reads next arrives during the arithmetic.
  void (*exp_sums)(const float* x, int n, float max, double lanes[16], const float* const* pf);
  // out[i] = float(double(x[i]) - lse).
  void (*shift)(const float* x, int n, double lse, float* out);
  // KL terms of 8 rows of n values: k[r] = sum over i in order of double(p[r][i]) *
  // double(ref[r][i] - dst[r][i]) (the difference in float). The product of two floats is exact in
  // double, so only the additions round, in the same order on every path.
  void (*kl8)(const float* const* ref, const float* const* p, const float* const* dst, int n,
              double k[8]);
  const char* name;
};

// exp_sums' prefetch of the lines holding pf[0][i] and pf[1][i] into L2 (prefetcht1 on x86).
inline void prefetch_lines(const float* const* pf, int i) {
  if (pf[0]) __builtin_prefetch(pf[0] + i, 0, 2);
  if (pf[1]) __builtin_prefetch(pf[1] + i, 0, 2);
}

// The best ops for a kernel path (kernels::Isa as int): AVX-512 for avx512vnni and amx, AVX2 for avx2,
// else the portable ones. Compiled-out paths fall back to the next below.
const LogSoftmaxOps& log_softmax_ops(int isa);
// The portable ops (also the tests' oracle).
const LogSoftmaxOps& log_softmax_portable();
// pf: two rows of n floats the caller reads next, prefetched meanwhile (see exp_sums), or null.
void log_softmax(const LogSoftmaxOps& ops, const float* x, int n, float* out,
                 const float* const* pf = nullptr);

}  // namespace hilq::search
