// Kernel paths ("ISAs") in the order of preference on each architecture, and which of them this
// binary was built with and this CPU can run.
#pragma once

#include <optional>
#include <string_view>

#include "kernels/cpu_features.h"

namespace hilq::kernels {

// Larger value = preferred on its architecture. kRef is the portable scalar oracle and fallback.
enum class Isa : int {
  kRef = 0,
  kAvx2 = 1,
  kAvxVnni = 2,  // AVX2 plus vpdpbusd on ymm (AVX-VNNI)
  kAvx512Vnni = 3,
  kAmx = 4,  // AVX-512 VNNI plus AMX tiles (GEMM per channel, g64, g128; the rest is VNNI)
  kNeon = 11,
  kDotprod = 12,
  kI8mm = 13
};

const char* isa_name(
    Isa isa);  // "ref", "avx2", "avxvnni", "avx512vnni", "amx", "neon", "dotprod", "i8mm"
std::optional<Isa> isa_from_name(std::string_view name);
// Compiled into this binary (HILQ_ENABLE_* options and the target architecture).
bool isa_compiled(Isa isa);
// The CPU features the path needs are present.
bool isa_supported(Isa isa, const CpuFeatures& f);
// a can stand in for b: same architecture (or ref) and not more capable.
bool isa_at_most(Isa a, Isa b);
// Best path that is compiled and supported by f (and, with a cap, not above it: isa_at_most).
Isa best_isa(const CpuFeatures& f);
Isa best_isa(const CpuFeatures& f, Isa cap);

}  // namespace hilq::kernels
