// Run-time CPU feature detection: cpuid/xgetbv on x86-64, getauxval on Linux aarch64.
#include "kernels/cpu_features.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <utility>

#if defined(__x86_64__)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
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
    {"avx_vnni", kAvxVnni},  {"amx_tile", kAmxTile},
    {"amx_int8", kAmxInt8},  {"neon", kNeon},
    {"dotprod", kDotprod},   {"i8mm", kI8mm},
    {"fp16", kFp16},
};

#if defined(__x86_64__)
uint64_t read_xcr0() {
  uint32_t eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

// Linux hands a process the AMX tile data state only on request (arch_prctl
// ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA); until then a tile instruction faults.
bool os_grants_amx() {
#if defined(__linux__)
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
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
    // CPUID.(7,0):EDX[24] AMX-TILE, [25] AMX-INT8; XCR0[17:18] tile config and data.
    const bool amx_cpu = (d & (1u << 24)) && (d & (1u << 25));
    if (amx_cpu && (xcr0 & 0x60000) == 0x60000 && os_grants_amx()) f.bits |= kAmxTile | kAmxInt8;
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

CpuIdentity identify() {
  CpuIdentity id;
#if defined(__x86_64__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return id;
  char vendor[13] = {};
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  id.vendor = vendor;
  if (__get_cpuid(1, &a, &b, &c, &d)) {
    const int base_family = static_cast<int>((a >> 8) & 0xf);
    const int base_model = static_cast<int>((a >> 4) & 0xf);
    id.stepping = static_cast<int>(a & 0xf);
    id.family = base_family == 15 ? base_family + static_cast<int>((a >> 20) & 0xff) : base_family;
    id.model = base_family == 6 || base_family == 15
                   ? static_cast<int>(((a >> 16) & 0xf) << 4) | base_model
                   : base_model;
  }
  if (static_cast<unsigned>(__get_cpuid_max(0x80000000u, nullptr)) >= 0x80000004u) {
    char brand[49] = {};
    for (unsigned leaf = 0; leaf < 3; ++leaf) {
      __get_cpuid(0x80000002u + leaf, &a, &b, &c, &d);
      const unsigned r[4] = {a, b, c, d};
      std::memcpy(brand + 16 * leaf, r, 16);
    }
    std::string s = brand;
    const size_t first = s.find_first_not_of(' ');
    const size_t last = s.find_last_not_of(' ');
    id.brand = first == std::string::npos ? "" : s.substr(first, last - first + 1);
  }
#elif defined(__aarch64__) && defined(__linux__)
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  auto value = [&](const char* key, long* out) {
    if (line.rfind(key, 0) != 0) return;
    const size_t colon = line.find(':');
    if (colon != std::string::npos && *out < 0)
      *out = std::strtol(line.c_str() + colon + 1, nullptr, 0);
  };
  long implementer = -1, part = -1, variant = -1;
  while (std::getline(in, line)) {
    value("CPU implementer", &implementer);
    value("CPU part", &part);
    value("CPU variant", &variant);
  }
  if (implementer >= 0) {
    char b[48];
    std::snprintf(b, sizeof b, "arm implementer 0x%02lx", implementer);
    id.vendor = b;
  }
  id.model = static_cast<int>(part);
  id.stepping = static_cast<int>(variant);
#endif
  return id;
}

}  // namespace

const CpuIdentity& cpu_identity() {
  static const CpuIdentity id = identify();
  return id;
}

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
