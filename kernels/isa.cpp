// Path names, build flags and feature requirements of the kernel paths.
#include "kernels/isa.h"

namespace hilq::kernels {
namespace {

struct IsaRow {
  Isa isa;
  const char* name;
  uint32_t needs;
  bool compiled;
};

constexpr IsaRow kIsas[] = {
    {Isa::kRef, "ref", 0, true},
#if defined(HILQ_HAVE_AVX2)
    {Isa::kAvx2, "avx2", kAvx2 | kFma | kF16c, true},
#else
    {Isa::kAvx2, "avx2", kAvx2 | kFma | kF16c, false},
#endif
#if defined(HILQ_HAVE_AVXVNNI)
    {Isa::kAvxVnni, "avxvnni", kAvx2 | kFma | kF16c | kAvxVnni, true},
#else
    {Isa::kAvxVnni, "avxvnni", kAvx2 | kFma | kF16c | kAvxVnni, false},
#endif
#if defined(HILQ_HAVE_AVX512)
    {Isa::kAvx512Vnni, "avx512vnni",
     kAvx2 | kFma | kF16c | kAvx512f | kAvx512bw | kAvx512vl | kAvx512Vnni, true},
#else
    {Isa::kAvx512Vnni, "avx512vnni",
     kAvx2 | kFma | kF16c | kAvx512f | kAvx512bw | kAvx512vl | kAvx512Vnni, false},
#endif
#if defined(HILQ_HAVE_AMX)
    {Isa::kAmx, "amx",
     kAvx2 | kFma | kF16c | kAvx512f | kAvx512bw | kAvx512vl | kAvx512Vnni | kAmxTile | kAmxInt8,
     true},
#else
    {Isa::kAmx, "amx",
     kAvx2 | kFma | kF16c | kAvx512f | kAvx512bw | kAvx512vl | kAvx512Vnni | kAmxTile | kAmxInt8,
     false},
#endif
#if defined(HILQ_HAVE_NEON)
    {Isa::kNeon, "neon", kNeon, true},
    {Isa::kDotprod, "dotprod", kNeon | kDotprod, true},
    {Isa::kI8mm, "i8mm", kNeon | kDotprod | kI8mm, true},
#else
    {Isa::kNeon, "neon", kNeon, false},
    {Isa::kDotprod, "dotprod", kNeon | kDotprod, false},
    {Isa::kI8mm, "i8mm", kNeon | kDotprod | kI8mm, false},
#endif
};

const IsaRow* row(Isa isa) {
  for (const auto& r : kIsas)
    if (r.isa == isa) return &r;
  return nullptr;
}

bool is_arm(Isa isa) { return static_cast<int>(isa) >= 10; }

}  // namespace

const char* isa_name(Isa isa) {
  const IsaRow* r = row(isa);
  return r ? r->name : "unknown";
}

std::optional<Isa> isa_from_name(std::string_view name) {
  for (const auto& r : kIsas)
    if (name == r.name) return r.isa;
  return std::nullopt;
}

bool isa_compiled(Isa isa) {
  const IsaRow* r = row(isa);
  return r && r->compiled;
}

bool isa_supported(Isa isa, const CpuFeatures& f) {
  const IsaRow* r = row(isa);
  return r && (f.bits & r->needs) == r->needs;
}

bool isa_at_most(Isa a, Isa b) {
  if (a == Isa::kRef) return true;
  if (b == Isa::kRef) return false;
  return is_arm(a) == is_arm(b) && static_cast<int>(a) <= static_cast<int>(b);
}

namespace {

// The best compiled path f supports, not above *cap when cap is given.
Isa best_of(const CpuFeatures& f, const Isa* cap) {
  Isa best = Isa::kRef;
  for (const auto& r : kIsas)
    if (r.compiled && isa_supported(r.isa, f) && (!cap || isa_at_most(r.isa, *cap)) &&
        static_cast<int>(r.isa) > static_cast<int>(best))
      best = r.isa;
  return best;
}

}  // namespace

Isa best_isa(const CpuFeatures& f) { return best_of(f, nullptr); }

Isa best_isa(const CpuFeatures& f, Isa cap) { return best_of(f, &cap); }

}  // namespace hilq::kernels
