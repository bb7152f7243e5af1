// Shared helpers of the kernel tests: random packed weights and activations (never all zeros,
// extremes included) and which kernel paths this machine or qemu CPU is expected to run.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kernels/isa.h"
#include "kernels/mkmp.h"
#include "kernels/pack.h"
#include "kernels/quantize.h"

namespace hilq::kernels::test {

// Random codes over the whole signed range, with the extremes forced in.
inline std::vector<int8_t> random_codes(std::mt19937& rng, size_t n, int bits) {
  std::uniform_int_distribution<int> d(qmin(bits), qmax(bits));
  std::vector<int8_t> v(n);
  for (auto& x : v) x = static_cast<int8_t>(d(rng));
  if (n > 0) v[0] = static_cast<int8_t>(qmin(bits));
  if (n > 1) v[n - 1] = static_cast<int8_t>(qmax(bits));
  return v;
}

inline PackedWeights random_weights(std::mt19937& rng, int rows, int cols, int bits, int group) {
  const auto q = random_codes(rng, static_cast<size_t>(rows) * cols, bits);
  const int groups = group ? (cols + group - 1) / group : 1;
  std::uniform_real_distribution<float> ds(0.001f, 0.05f);
  std::vector<float> s(static_cast<size_t>(rows) * groups);
  for (auto& x : s) x = ds(rng);
  return pack_weights(q.data(), s.data(), rows, cols, bits, group);
}

// Activations with raw random codes (the full range, -128 and -8 included: wider than what the
// absmax quantizer produces) and per-row bits from row_bits.
inline QuantizedActivations random_acts(std::mt19937& rng, int n, int cols,
                                        const std::vector<uint8_t>& row_bits) {
  QuantizedActivations a;
  std::vector<float> x(static_cast<size_t>(n) * cols, 1.0f);
  quantize_activations_ref(x.data(), n, cols, cols, row_bits.data(), &a);
  std::uniform_real_distribution<float> ds(0.01f, 0.1f);
  for (int t = 0; t < n; ++t) {
    const auto q = random_codes(rng, cols, a.bits[t]);
    int32_t total = 0;
    for (int c0 = 0; c0 < a.cols_pad; c0 += 32) {
      int32_t s = 0;
      for (int c = c0; c < c0 + 32 && c < cols; ++c) {
        a.q[int64_t{t} * a.cols_pad + c] = q[c];
        s += q[c];
      }
      a.sums[t * a.sum_stride() + c0 / 32] = s;
      total += s;
    }
    a.sums[t * a.sum_stride() + a.cols_pad / 32] = total;
    a.scales[t] = ds(rng);
  }
  return a;
}

inline const char* env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// The path the environment forces (HILQ_ISA), or the best one.
inline Isa max_isa() {
  Context ctx(ContextOptions{1, "", ""});
  return ctx.isa();
}

inline bool usable(const KernelInfo& k, Isa max) {
  const Isa isa = kernel_isa(k);
  return isa_compiled(isa) && isa_supported(isa, cpu_features()) && isa_at_most(isa, max);
}

// Paths that must be exercised here: the forced one alone; under qemu the CPU's (HILQ_EXPECT_CPU);
// natively every path CMake enabled that the CPU has.
inline std::vector<Isa> expected_isas() {
  const std::string forced = env_or("HILQ_ISA", "");
  if (forced == "ref") return {Isa::kRef};
  const std::string cpu = env_or("HILQ_EXPECT_CPU", "");
  if (cpu == "max") return {Isa::kRef, Isa::kNeon, Isa::kDotprod, Isa::kI8mm};
  if (cpu == "cortex-a76") return {Isa::kRef, Isa::kNeon, Isa::kDotprod};
  std::vector<Isa> out{Isa::kRef};
  const CpuFeatures& f = cpu_features();
#if defined(__x86_64__)
  if (HILQ_ENABLED_AVX2) out.push_back(Isa::kAvx2);  // every x86 CI machine has AVX2
  if (HILQ_ENABLED_AVXVNNI && isa_supported(Isa::kAvxVnni, f)) out.push_back(Isa::kAvxVnni);
  if (HILQ_ENABLED_AVX512 && isa_supported(Isa::kAvx512Vnni, f)) out.push_back(Isa::kAvx512Vnni);
  if (HILQ_ENABLED_AMX && isa_supported(Isa::kAmx, f)) out.push_back(Isa::kAmx);
  // A forced path leaves out the ones above it.
  if (const auto cap = isa_from_name(forced))
    out.erase(std::remove_if(out.begin(), out.end(), [&](Isa i) { return !isa_at_most(i, *cap); }),
              out.end());
#elif defined(__aarch64__)
  if (HILQ_ENABLED_NEON) {
    out.push_back(Isa::kNeon);
    if (isa_supported(Isa::kDotprod, f)) out.push_back(Isa::kDotprod);
    if (isa_supported(Isa::kI8mm, f)) out.push_back(Isa::kI8mm);
  }
#endif
  return out;
}

}  // namespace hilq::kernels::test
