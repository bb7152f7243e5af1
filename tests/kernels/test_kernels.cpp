// Every compiled kernel this CPU can run (up to the path HILQ_ISA allows) against its scalar
// `_ref`: int32 accumulators bit for bit, float outputs within 1e-5 relative, on tiny, odd and
// large shapes with random non-zero data.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <random>

#include "kernel_test_util.h"
#include "kernels/mkmp.h"

using namespace hilq::kernels;

namespace {

struct Shape {
  int m, k, n;
};
// K of 1, around the 32-column and 128-column paddings, primes; N = 1, 3, 17, ...; one large.
// M of 1 to 7 panels: the GEMVs run panels 4, 2 and 1 at a time (7 = 4 + 2 + 1). N = 70: the
// GEMMs take tokens in blocks of at most 64 (one offset-correction table per block).
const Shape kShapes[] = {{1, 1, 1},      {3, 5, 3},     {17, 33, 17}, {32, 32, 2},   {33, 127, 9},
                         {31, 129, 4},   {64, 257, 8},  {65, 96, 16}, {97, 1000, 5}, {40, 4099, 3},
                         {130, 2048, 9}, {200, 300, 3}, {33, 96, 70}};

std::vector<const KernelInfo*> int_kernels_under_test() {
  std::vector<const KernelInfo*> v;
  const Isa max = test::max_isa();
  for (const auto& k : kernel_registry())
    if (k.kind == kKindInt && test::usable(k, max)) v.push_back(&k);
  return v;
}

}  // namespace

TEST_CASE("every integer kernel matches its reference bit for bit on odd, tiny and large shapes",
          "[kernels]") {
  static const auto kernels = int_kernels_under_test();
  const KernelInfo* k = GENERATE(from_range(kernels));
  const KernelInfo* ref = reference_of(*k);
  CAPTURE(k->name);
  REQUIRE(ref != nullptr);
  std::mt19937 rng(static_cast<unsigned>(std::hash<std::string>{}(k->name)));
  for (const Shape& s : kShapes) {
    const int n = k->op == kOpGemv ? (s.n > 1 ? 2 : 1) : s.n;
    CAPTURE(s.m, s.k, n);
    const PackedWeights w = test::random_weights(rng, s.m, s.k, k->w_bits, k->group);
    // All rows carry the kernel's a_bits; the dispatcher groups rows before calling a kernel.
    const std::vector<uint8_t> bits(n, static_cast<uint8_t>(k->a_bits));
    const QuantizedActivations a = test::random_acts(rng, n, s.k, bits);
    std::vector<int32_t> rows(n);
    for (int t = 0; t < n; ++t) rows[t] = t;
    std::vector<float> bias(s.m);
    for (auto& b : bias) b = std::uniform_real_distribution<float>(-1, 1)(rng);
    const int groups = w.layout.groups();
    const size_t n_acc = static_cast<size_t>(n) * s.m * groups;
    std::vector<int32_t> acc(n_acc, 0x5a5a5a5a), acc_ref(n_acc, 0x1234567);
    run_kernel(*k, w, a, rows.data(), n, nullptr, 0, nullptr, acc.data());
    run_kernel(*ref, w, a, rows.data(), n, nullptr, 0, nullptr, acc_ref.data());
    REQUIRE(acc == acc_ref);
    // Rows out of order, as the dispatcher passes a token-adaptive group: kernels that load
    // consecutive rows as one block (AMX) must notice and gather.
    if (n >= 16) {
      std::vector<int32_t> perm(rows.rbegin(), rows.rend());
      std::swap(perm[0], perm[n / 2]);
      std::fill(acc.begin(), acc.end(), 0x5a5a5a5a);
      run_kernel(*k, w, a, perm.data(), n, nullptr, 0, nullptr, acc.data());
      REQUIRE(acc == acc_ref);
    }
    // Float outputs. The integers are identical, so only the float epilogue can differ (FMA
    // contraction and the order scales are applied in); each path uses at most a few roundings
    // per group, so 1e-5 of the magnitude of the summed terms is a generous bound that still
    // catches a wrong scale, bias or row.
    std::vector<float> y(static_cast<size_t>(n) * s.m, -7.0f), y_ref(y.size(), 7.0f);
    run_kernel(*k, w, a, rows.data(), n, y.data(), s.m, bias.data());
    run_kernel(*ref, w, a, rows.data(), n, y_ref.data(), s.m, bias.data());
    for (int t = 0; t < n; ++t)
      for (int m = 0; m < s.m; ++m) {
        double mag = std::fabs(bias[m]);
        for (int g = 0; g < groups; ++g)
          mag += std::fabs(
              static_cast<double>(acc_ref[(static_cast<size_t>(t) * s.m + m) * groups + g]) *
              w.scales[scale_index(w.layout, m, g)] * a.scales[t]);
        const float got = y[static_cast<size_t>(t) * s.m + m];
        const float want = y_ref[static_cast<size_t>(t) * s.m + m];
        if (std::fabs(double{got} - want) > 1e-5 * mag + 1e-30) {
          CAPTURE(t, m, got, want, mag);
          REQUIRE(got == Approx(want));
        }
      }
  }
}

TEST_CASE("the float baselines agree with a double-precision sum within 1e-5 relative",
          "[kernels]") {
  const Isa max = test::max_isa();
  std::vector<const KernelInfo*> fp;
  for (const auto& k : kernel_registry())
    if (k.kind != kKindInt && test::usable(k, max)) fp.push_back(&k);
  const KernelInfo* k = GENERATE_COPY(from_range(fp));
  CAPTURE(k->name);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  for (const Shape& s : kShapes) {
    const int n = k->op == kOpGemv ? 1 : s.n;
    CAPTURE(s.m, s.k, n);
    std::vector<float> w(static_cast<size_t>(s.m) * s.k), x(static_cast<size_t>(n) * s.k),
        bias(s.m);
    for (auto& v : w) v = d(rng);
    for (auto& v : x) v = d(rng);
    for (auto& v : bias) v = d(rng);
    std::vector<uint16_t> wh(w.size());
    for (size_t i = 0; i < w.size(); ++i) {
      wh[i] = float_to_half(w[i]);
      if (k->kind == kKindFp16) w[i] = half_to_float(wh[i]);
    }
    std::vector<float> y(static_cast<size_t>(n) * s.m);
    const void* wp = k->kind == kKindFp16 ? static_cast<const void*>(wh.data()) : w.data();
    run_fp_kernel(*k, wp, s.m, s.k, x.data(), n, s.k, y.data(), s.m, bias.data());
    // Float sums of K terms in any order are within K * 2^-24 of the exact sum relative to the
    // sum of magnitudes (worst case); random signs make it ~sqrt(K) * 2^-24, well below 1e-5.
    for (int t = 0; t < n; ++t)
      for (int m = 0; m < s.m; ++m) {
        double exact = bias[m], mag = std::fabs(bias[m]);
        for (int c = 0; c < s.k; ++c) {
          const double p = double{w[static_cast<size_t>(m) * s.k + c]} * x[t * s.k + c];
          exact += p;
          mag += std::fabs(p);
        }
        REQUIRE(std::fabs(y[static_cast<size_t>(t) * s.m + m] - exact) <= 1e-5 * mag);
      }
  }
}

namespace {

// Every kernel of `path` (when this machine is expected to run it) has a twin on `base` with the
// same pair, group and variant, and their float outputs are equal bit for bit; returns the pairs.
size_t check_float_outputs_equal(Isa path, Isa base_path, std::initializer_list<Shape> shapes) {
  const Isa max = test::max_isa();
  std::vector<std::pair<const KernelInfo*, const KernelInfo*>> pairs;
  for (const auto& k : kernel_registry()) {
    if (kernel_isa(k) != path || !test::usable(k, max)) continue;
    for (const auto& b : kernel_registry())
      if (kernel_isa(b) == base_path && b.kind == k.kind && b.op == k.op && b.w_bits == k.w_bits &&
          b.a_bits == k.a_bits && b.group == k.group && b.variant == k.variant)
        pairs.emplace_back(&k, &b);
  }
  for (const auto& [k, base] : pairs) {
    std::mt19937 rng(static_cast<unsigned>(std::hash<std::string>{}(k->name)));
    for (const Shape& s : shapes) {
      const int n = k->op == kOpGemv ? 1 : s.n;
      CAPTURE(k->name, s.m, s.k, n);
      const PackedWeights w = test::random_weights(rng, s.m, s.k, k->w_bits, k->group);
      const std::vector<uint8_t> bits(n, static_cast<uint8_t>(k->a_bits));
      const QuantizedActivations a = test::random_acts(rng, n, s.k, bits);
      std::vector<int32_t> rows(n);
      for (int t = 0; t < n; ++t) rows[t] = t;
      std::vector<float> bias(s.m);
      for (auto& b : bias) b = std::uniform_real_distribution<float>(-1, 1)(rng);
      std::vector<float> y(static_cast<size_t>(n) * s.m, -7.0f), y_base(y.size(), 7.0f);
      run_kernel(*k, w, a, rows.data(), n, y.data(), s.m, bias.data());
      run_kernel(*base, w, a, rows.data(), n, y_base.data(), s.m, bias.data());
      REQUIRE(std::memcmp(y.data(), y_base.data(), y.size() * sizeof(float)) == 0);
    }
  }
  return pairs.size();
}

bool expected_here(Isa isa) {
  const auto expected = test::expected_isas();
  return std::find(expected.begin(), expected.end(), isa) != expected.end();
}

}  // namespace

TEST_CASE("the AMX GEMMs' float outputs equal the AVX-512 VNNI ones bit for bit", "[kernels]") {
  // Same int32 sums and the same epilogue (kernels/README.md), so a host with AMX scores
  // candidates with the same bits as one without. 1,030 tokens: more 16-token blocks than the
  // kernel keeps on its stack. 1,300 columns: the group kernels' 512-column chunks end in a
  // partial one.
  const size_t pairs =
      check_float_outputs_equal(Isa::kAmx, Isa::kAvx512Vnni,
                                {Shape{33, 127, 9}, Shape{96, 256, 128}, Shape{65, 1000, 40},
                                 Shape{33, 64, 1030}, Shape{40, 1300, 21}});
  // 5 widths x 2 a_bits x (per channel, g32, g64, g128)
  REQUIRE(pairs == (expected_here(Isa::kAmx) ? 40u : 0u));
}

TEST_CASE("the AVX-VNNI kernels' float outputs equal the AVX2 ones bit for bit", "[kernels]") {
  // The same source with vpdpbusd for vpmaddubsw + vpmaddwd: the same int32 sums and epilogue.
  const size_t pairs = check_float_outputs_equal(
      Isa::kAvxVnni, Isa::kAvx2, {Shape{33, 127, 9}, Shape{96, 256, 70}, Shape{65, 1000, 5}});
  // 5 widths x 2 a_bits x 4 groupings x GEMV/GEMM, and the concatenated-int16 W4A4 pair
  REQUIRE(pairs == (expected_here(Isa::kAvxVnni) ? 82u : 0u));
}

TEST_CASE("the AVX-512 float GEMMs equal the AVX2 ones bit for bit", "[kernels]") {
  // The AVX-512 kernels keep the AVX2 kernels' lane sums and hsum order (fp_avx512.cpp), so the
  // head's logits, and every score computed from them, do not depend on the path.
  const Isa max = test::max_isa();
  std::vector<std::pair<const KernelInfo*, const KernelInfo*>> pairs;  // (avx512, avx2)
  for (const auto& k : kernel_registry()) {
    if (k.kind == kKindInt || kernel_isa(k) != Isa::kAvx512Vnni || !test::usable(k, max)) continue;
    for (const auto& b : kernel_registry())
      if (kernel_isa(b) == Isa::kAvx2 && b.kind == k.kind && b.op == k.op)
        pairs.emplace_back(&k, &b);
  }
  const auto expected = test::expected_isas();
  // fp32 and fp16 GEMM when the AVX-512 path is expected here, none otherwise (HILQ_ISA=ref).
  const bool expect512 =
      std::find(expected.begin(), expected.end(), Isa::kAvx512Vnni) != expected.end();
  REQUIRE(pairs.size() == (expect512 ? 2u : 0u));
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  struct Case {
    int m, k, n;
  };
  const Case cases[] = {{1, 1, 1},
                        {3, 5, 2},
                        {7, 8, 3},
                        {8, 9, 4},
                        {9, 15, 5},
                        {12, 16, 6},
                        {17, 33, 7},
                        {31, 129, 9},
                        {64, 256, 12},
                        {65, 257, 13},
                        {40, 4099, 3},
                        {20, 40, 10},
                        {33, 64, 11},
                        {96, 256, 128},
                        // the K the AVX-512 kernel compiles in (fp_avx512.cpp)
                        {24, 384, 14},
                        {17, 768, 9},
                        {16, 1024, 7}};
  for (const auto& [k, base] : pairs)
    for (const Case& c : cases)
      for (bool with_bias : {true, false}) {
        CAPTURE(k->name, c.m, c.k, c.n, with_bias);
        const int ldx = c.k + 3, ldy = c.m + 5;
        std::vector<float> w(static_cast<size_t>(c.m) * c.k), x(static_cast<size_t>(c.n) * ldx),
            bias(c.m);
        for (auto& v : w) v = d(rng);
        for (auto& v : x) v = d(rng);
        for (auto& v : bias) v = d(rng);
        std::vector<uint16_t> wh(w.size());
        for (size_t i = 0; i < w.size(); ++i) wh[i] = float_to_half(w[i]);
        const void* wp = k->kind == kKindFp16 ? static_cast<const void*>(wh.data()) : w.data();
        std::vector<float> y(static_cast<size_t>(c.n) * ldy, 3.0f), y_base(y);
        const float* b = with_bias ? bias.data() : nullptr;
        run_fp_kernel(*k, wp, c.m, c.k, x.data(), c.n, ldx, y.data(), ldy, b);
        run_fp_kernel(*base, wp, c.m, c.k, x.data(), c.n, ldx, y_base.data(), ldy, b);
        for (size_t i = 0; i < y.size(); ++i) {
          uint32_t got = 0, want = 0;
          std::memcpy(&got, &y[i], 4);
          std::memcpy(&want, &y_base[i], 4);
          if (got != want) {
            CAPTURE(i, y[i], y_base[i]);
            REQUIRE(got == want);
          }
        }
      }
}

TEST_CASE("the kernel walk covers every path expected on this machine, for every pair and op",
          "[kernels]") {
  const auto kernels = int_kernels_under_test();
  for (Isa isa : test::expected_isas()) {
    CAPTURE(isa_name(isa));
    for (int op : {kOpGemv, kOpGemm})
      for (int w : {2, 3, 4, 6, 8})
        for (int a : {4, 8})
          for (int g : {0, 32, 64, 128}) {
            // i8mm and AMX only add GEMM kernels; their GEMVs are the dotprod and AVX-512 VNNI
            // ones.
            if ((isa == Isa::kI8mm || isa == Isa::kAmx) && op == kOpGemv) continue;
            CAPTURE(op, w, a, g);
            const bool found =
                std::any_of(kernels.begin(), kernels.end(), [&](const KernelInfo* k) {
                  return kernel_isa(*k) == isa && k->op == op && k->w_bits == w && k->a_bits == a &&
                         k->group == g;
                });
            REQUIRE(found);
          }
  }
}
