// Run-time CPU feature detection: cpuid/xgetbv on x86-64, getauxval on Linux aarch64.
#include "kernels/cpu_features.h"

#include <utility>

#if defined(__x86_64__)
#include <cpuid.h>
#elif defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace hilq::kernels {
namespace {

constexpr std::pair<const char*, CpuFeature> kNames[] = {
    {"sse4_1", kSse41},      {"avx2", kAvx2},
    {"fma", kFma},           {"f16c", kF16c},
    {"avx512f", kAvx512f},   {"avx512bw", kAvx512bw},
    {"avx512vl", kAvx512vl}, {"avx512_vnni", kAvx512Vnni},
    {"avx_vnni", kAvxVnni},  {"neon", kNeon},
    {"dotprod", kDotprod},   {"i8mm", kI8mm},
    {"fp16", kFp16},
};

#if defined(__x86_64__)
uint64_t read_xcr0() {
  uint32_t eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & bit_OSXSAVE;
  const uint64_t xcr0 = osxsave ? read_xcr0() : 0;
  const bool ymm_os = (xcr0 & 0x6) == 0x6;    // SSE + AVX state saved by the OS
  const bool zmm_os = (xcr0 & 0xe6) == 0xe6;  // + opmask, ZMM_Hi256, Hi16_ZMM
  if (c & bit_SSE4_1) f.bits |= kSse41;
  if ((c & bit_FMA) && ymm_os) f.bits |= kFma;
  if ((c & bit_F16C) && ymm_os) f.bits |= kF16c;
  unsigned max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    if ((b & bit_AVX2) && ymm_os) f.bits |= kAvx2;
    if (zmm_os) {
      if (b & bit_AVX512F) f.bits |= kAvx512f;
      if (b & bit_AVX512BW) f.bits |= kAvx512bw;
      if (b & bit_AVX512VL) f.bits |= kAvx512vl;
      if (c & bit_AVX512VNNI) f.bits |= kAvx512Vnni;
    }
    __cpuid_count(7, 1, a, b, c, d);
    if ((a & (1u << 4)) && ymm_os) f.bits |= kAvxVnni;  // CPUID.(7,1):EAX[4] = AVX-VNNI
  }
#elif defined(__aarch64__) && defined(__linux__)
  f.bits |= kNeon;  // Advanced SIMD is mandatory on AArch64.
  const unsigned long hw = getauxval(AT_HWCAP);
  const unsigned long hw2 = getauxval(AT_HWCAP2);
  if (hw & HWCAP_ASIMDDP) f.bits |= kDotprod;
  if (hw & HWCAP_ASIMDHP) f.bits |= kFp16;
#ifdef HWCAP2_I8MM
  if (hw2 & HWCAP2_I8MM) f.bits |= kI8mm;
#else
  if (hw2 & (1ul << 13)) f.bits |= kI8mm;
#endif
#endif
  return f;
}

}  // namespace

std::vector<std::string> CpuFeatures::names() const {
  std::vector<std::string> out;
  for (const auto& [name, flag] : kNames)
    if (has(flag)) out.emplace_back(name);
  return out;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

const char* build_arch() {
#if defined(__x86_64__)
  return "x86_64";
#elif defined(__aarch64__)
  return "aarch64";
#else
  return "unknown";
#endif
}

uint32_t feature_from_name(const std::string& name) {
  for (const auto& [n, flag] : kNames)
    if (name == n) return flag;
  return 0;
}

}  // namespace hilq::kernels
