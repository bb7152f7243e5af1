// Per-token activation quantization: the dispatched (SIMD) quantizer equals the scalar one bit
// for bit, row bits are honoured, and the per-32 sums the offset correction uses are right.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "kernel_test_util.h"
#include "kernels/mkmp.h"
#include "kernels/quantize.h"

using namespace hilq::kernels;

TEST_CASE("the dispatched activation quantizer matches the scalar one bit for bit", "[acts]") {
  std::mt19937 rng(11);
  std::normal_distribution<float> d(0.0f, 3.0f);
  Context ctx(ContextOptions{1, "", ""});
  for (int cols : {1, 7, 31, 32, 33, 127, 128, 129, 1000, 4096}) {
    const int n = 5;
    std::vector<float> x(static_cast<size_t>(n) * cols);
    for (auto& v : x) v = d(rng);
    // Ties and specials: exact halves of the scale, zeros, a zero row, NaN and infinities.
    x[0] = 0.0f;
    if (cols > 3) {
      x[1] = 127.0f;
      x[2] = 63.5f;  // scale 1 -> tie at .5 rounds to even
      x[3] = -0.5f;
    }
    for (int c = 0; c < cols; ++c) x[static_cast<size_t>(2) * cols + c] = 0.0f;
    if (cols > 2) {
      x[static_cast<size_t>(3) * cols + 1] = std::numeric_limits<float>::quiet_NaN();
      x[static_cast<size_t>(4) * cols] = std::numeric_limits<float>::infinity();
    }
    const std::vector<uint8_t> bits = {8, 4, 8, 4, 8};
    QuantizedActivations a, r;
    quantize_activations(ctx, x.data(), n, cols, cols, bits.data(), &a);
    quantize_activations_ref(x.data(), n, cols, cols, bits.data(), &r);
    CAPTURE(cols, isa_name(ctx.isa()));
    REQUIRE(a.cols_pad % kActColsAlign == 0);
    REQUIRE(std::memcmp(a.q.data(), r.q.data(), a.q.size()) == 0);
    REQUIRE(std::memcmp(a.scales.data(), r.scales.data(), n * sizeof(float)) == 0);
    REQUIRE(std::memcmp(a.sums.data(), r.sums.data(), a.sums.size() * 4) == 0);
    REQUIRE(a.bits == bits);
    for (int t = 0; t < n; ++t) {
      int32_t total = 0;
      for (int c = 0; c < cols; ++c) {
        const int8_t q = r.q[int64_t{t} * r.cols_pad + c];
        REQUIRE(q == quantize_value(x[t * cols + c], r.scales[t], bits[t]));
        total += q;
      }
      REQUIRE(r.sums[t * r.sum_stride() + r.cols_pad / 32] == total);
    }
  }
}
