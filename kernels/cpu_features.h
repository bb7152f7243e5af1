// What the CPU running this process can execute, detected once at run time (cpuid on x86,
// getauxval HWCAP/HWCAP2 on Linux aarch64). The agent reports these in HELLO and the kernel
// dispatcher picks the best compiled path they allow.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hilq::kernels {

enum CpuFeature : uint32_t {
  kSse41 = 1u << 0,
  kAvx2 = 1u << 1,
  kFma = 1u << 2,
  kF16c = 1u << 3,
  kAvx512f = 1u << 4,
  kAvx512bw = 1u << 5,
  kAvx512vl = 1u << 6,
  kAvx512Vnni = 1u << 7,
  kAvxVnni = 1u << 8,
  // AMX: set only when the OS also grants the tile state (XCR0 and, on Linux, arch_prctl).
  kAmxTile = 1u << 9,
  kAmxInt8 = 1u << 10,
  kNeon = 1u << 16,
  kDotprod = 1u << 17,
  kI8mm = 1u << 18,
  kFp16 = 1u << 19,
};

struct CpuFeatures {
  uint32_t bits = 0;
  bool has(CpuFeature f) const { return (bits & f) == f; }
  // Lower-case names as used in board files: "avx2", "avx512_vnni", "dotprod", ...
  std::vector<std::string> names() const;
};

// Detected once per process; cheap to call.
const CpuFeatures& cpu_features();
// Which CPU this is, as the hardware reports it: on x86 cpuid's vendor string, display family and
// model (family = base + extended family, model = extended model << 4 | model when the base
// family is 6 or 15) and the brand string; on Linux aarch64 MIDR_EL1's implementer, part and
// variant from /proc/cpuinfo. A virtual machine reports what its hypervisor passes through.
struct CpuIdentity {
  std::string vendor;  // "GenuineIntel", "AuthenticAMD", "arm implementer 0x41", ...
  int family = -1;     // x86 display family; aarch64: -1
  int model = -1;      // x86 display model; aarch64: MIDR part number
  int stepping = -1;   // x86 stepping; aarch64: MIDR variant
  std::string brand;   // x86 brand string (trimmed); aarch64: empty
};
const CpuIdentity& cpu_identity();

// "x86_64" or "aarch64" (the architecture this binary was compiled for).
const char* build_arch();
// Name -> flag; returns 0 for an unknown name.
uint32_t feature_from_name(const std::string& name);

}  // namespace hilq::kernels
