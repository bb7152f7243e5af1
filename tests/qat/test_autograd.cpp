// Gradient checks of every autograd op against central finite differences, plus float64
// reference forwards for the ops whose float32 rounding matters (softmax, cross-entropy, norms).
#include <catch2/catch.hpp>
#include <cmath>

#include "qat/autograd.h"
#include "qat/ops.h"
#include "tests/qat/grad_check.h"

namespace hilq::qat {
namespace {

using testing::check_gradients;
using testing::random_mat;

TEST_CASE("matrix products and broadcasting have correct gradients", "[autograd]") {
  check_gradients([](const auto& v) { return matmul(v[0], v[1]); },
                  {random_mat(5, 7, 1), random_mat(7, 3, 2)});
  check_gradients([](const auto& v) { return linear(v[0], v[1]); },
                  {random_mat(6, 8, 3), random_mat(4, 8, 4)});
  check_gradients([](const auto& v) { return add(v[0], v[1]); },
                  {random_mat(3, 4, 5), random_mat(3, 4, 6)});
  check_gradients([](const auto& v) { return sub(v[0], v[1]); },
                  {random_mat(3, 4, 5), random_mat(3, 4, 6)});
  check_gradients([](const auto& v) { return mul(v[0], v[1]); },
                  {random_mat(3, 4, 7), random_mat(3, 4, 8)});
  check_gradients([](const auto& v) { return add_row(v[0], v[1]); },
                  {random_mat(5, 4, 9), random_mat(1, 4, 10)});
  check_gradients([](const auto& v) { return mul_row(v[0], v[1]); },
                  {random_mat(5, 4, 11), random_mat(1, 4, 12)});
  check_gradients([](const auto& v) { return scale(v[0], -1.7f); }, {random_mat(2, 3, 13)});
  check_gradients([](const auto& v) { return add_scalar(v[0], 0.3f); }, {random_mat(2, 3, 14)});
}

TEST_CASE("a shape mismatch throws naming both shapes", "[autograd]") {
  auto a = parameter(random_mat(2, 3, 1));
  auto b = parameter(random_mat(3, 2, 2));
  REQUIRE_THROWS_WITH(add(a, b), Catch::Contains("2x3 vs 3x2"));
  REQUIRE_THROWS_AS(linear(a, b), QatError);
}

TEST_CASE("elementwise nonlinearities and reductions have correct gradients", "[autograd]") {
  check_gradients([](const auto& v) { return silu(v[0]); }, {random_mat(4, 6, 20, -3, 3)});
  check_gradients([](const auto& v) { return gelu(v[0]); }, {random_mat(4, 6, 21, -3, 3)});
  check_gradients([](const auto& v) { return log_op(v[0]); }, {random_mat(3, 5, 22, 0.5, 2)});
  check_gradients([](const auto& v) { return log1p_op(v[0]); }, {random_mat(3, 5, 23, 0, 2)});
  check_gradients([](const auto& v) { return sum(v[0]); }, {random_mat(3, 5, 24)});
  check_gradients([](const auto& v) { return mean(v[0]); }, {random_mat(3, 5, 25)});
}

TEST_CASE("RMS and layer norms have correct gradients and match a float64 forward", "[autograd]") {
  check_gradients([](const auto& v) { return rms_norm(v[0], v[1], 1e-5f); },
                  {random_mat(4, 8, 30), random_mat(1, 8, 31)});
  check_gradients([](const auto& v) { return layer_norm(v[0], v[1], v[2], 1e-5f); },
                  {random_mat(4, 8, 32), random_mat(1, 8, 33), random_mat(1, 8, 34)});
  const Mat x = random_mat(3, 16, 35, -4, 4);
  const Mat g = random_mat(1, 16, 36);
  const Mat y = rms_norm(constant(x), constant(g), 1e-5f)->value;
  for (int r = 0; r < 3; ++r) {
    double ms = 0;
    for (int c = 0; c < 16; ++c) ms += static_cast<double>(x(r, c)) * x(r, c) / 16.0;
    for (int c = 0; c < 16; ++c) {
      REQUIRE(y(r, c) == Approx(x(r, c) / std::sqrt(ms + 1e-5) * g(0, c)).epsilon(1e-5));
    }
  }
}

TEST_CASE("softmax, cross-entropy, KL and entropy have correct gradients", "[autograd]") {
  check_gradients([](const auto& v) { return softmax_rows(v[0]); }, {random_mat(4, 6, 40, -3, 3)});
  const std::vector<int32_t> targets{2, -1, 0, 5};  // row 1 is ignored
  check_gradients([&](const auto& v) { return cross_entropy(v[0], targets); },
                  {random_mat(4, 6, 41, -3, 3)});
  const Mat teacher = random_mat(4, 6, 42, -3, 3);
  check_gradients([&](const auto& v) { return kl_divergence(teacher, v[0], 2.0f); },
                  {random_mat(4, 6, 43, -3, 3)});
  check_gradients([](const auto& v) { return entropy(v[0]); }, {random_mat(4, 6, 44, -3, 3)});
}

TEST_CASE("cross-entropy matches a float64 reference and ignores negative targets", "[autograd]") {
  const Mat z = random_mat(3, 50, 45, -8, 8);
  const std::vector<int32_t> t{7, -1, 49};
  double ref = 0;
  for (int r : {0, 2}) {
    double mx = -1e300, s = 0;
    for (int c = 0; c < 50; ++c) mx = std::max(mx, static_cast<double>(z(r, c)));
    for (int c = 0; c < 50; ++c) s += std::exp(z(r, c) - mx);
    ref += -(z(r, t[static_cast<size_t>(r)]) - mx - std::log(s));
  }
  REQUIRE(cross_entropy(constant(z), t)->scalar() == Approx(ref / 2).epsilon(1e-6));
  // KL of a distribution with itself is zero; entropy of uniform logits is log(n).
  REQUIRE(kl_divergence(z, constant(z), 2.0f)->scalar() == Approx(0.0).margin(1e-6));
  REQUIRE(entropy(constant(Mat::Zero(2, 8)))->scalar() == Approx(std::log(8.0)).epsilon(1e-6));
}

// The losses' row log-softmax runs in blocks of rows (temporaries in L2). It must give the bits
// of the same formula as one whole-matrix expression: losses and gradients identical, not close.
TEST_CASE("blocked log-softmax gives the whole-matrix formula's bits", "[autograd]") {
  auto whole = [](const Mat& x, float tau) -> Mat {
    Mat z = x / tau;
    Vec mx = z.rowwise().maxCoeff();
    Mat shifted = z.colwise() - mx;
    Vec lse = shifted.array().exp().rowwise().sum().log().matrix();
    return shifted.colwise() - lse;
  };
  struct Shape {
    int rows, cols;
  };
  for (const Shape sh : {Shape{1, 2}, Shape{16, 7}, Shape{37, 513}, Shape{70, 4096}}) {
    CAPTURE(sh.rows, sh.cols);
    const Mat teacher = random_mat(sh.rows, sh.cols, 60, -9, 9);
    const Mat student = random_mat(sh.rows, sh.cols, 61, -9, 9);
    const float tau = 2.0f;
    // KL: value and gradient d/ds = (p_s - p_t) / (rows * tau), as kl_divergence computes them.
    const Mat log_pt = whole(teacher, tau), log_ps = whole(student, tau);
    const Mat pt = log_pt.array().exp().matrix();
    const double kl = (pt.array() * (log_pt - log_ps).array()).cast<double>().sum();
    auto s = parameter(student);
    auto loss = kl_divergence(teacher, s, tau);
    REQUIRE(loss->scalar() == static_cast<float>(kl / sh.rows));
    backward(loss);
    const float g = 1.0f / (static_cast<float>(sh.rows) * tau);
    const Mat want = g * (log_ps.array().exp().matrix() - pt);
    REQUIRE(s->grad == want);
    // Cross-entropy: every row's log-probability of its target, summed in double.
    std::vector<int32_t> targets(static_cast<size_t>(sh.rows));
    for (int r = 0; r < sh.rows; ++r) targets[static_cast<size_t>(r)] = (r * 7919) % sh.cols;
    const Mat logp = whole(student, 1.0f);
    double total = 0;
    for (int r = 0; r < sh.rows; ++r) total -= logp(r, targets[static_cast<size_t>(r)]);
    REQUIRE(cross_entropy(constant(student), targets)->scalar() ==
            static_cast<float>(total / sh.rows));
  }
}

TEST_CASE("embedding scatter-adds repeated ids and dropout is seeded", "[autograd]") {
  const std::vector<int32_t> ids{3, 1, 3, 0};
  check_gradients([&](const auto& v) { return embedding(v[0], ids); }, {random_mat(5, 4, 50)});
  check_gradients([](const auto& v) { return dropout(v[0], 0.3f, 99); }, {random_mat(6, 7, 51)});
  auto x = constant(Mat::Ones(40, 50));
  const Mat a = dropout(x, 0.25f, 7)->value, b = dropout(x, 0.25f, 7)->value;
  REQUIRE(a == b);
  const double kept = (a.array() > 0).cast<double>().mean();
  REQUIRE(kept == Approx(0.75).margin(0.03));  // 2000 draws: 3 sigma is about 0.03
  REQUIRE(a.maxCoeff() == Approx(1.0f / 0.75f));
  auto table = parameter(random_mat(2, 3, 52));
  REQUIRE_THROWS_WITH(embedding(table, {0, 2}), Catch::Contains("id 2"));
}

TEST_CASE("attention ops have correct gradients with causal and padding masks", "[autograd]") {
  const AttnShape s{2, 5, 2, 4};  // batch 2, seq 5, heads 2, head_dim 4
  const Mat q = random_mat(10, 8, 60), k = random_mat(10, 8, 61), v = random_mat(10, 8, 62);
  check_gradients([&](const auto& x) { return attention_scores(x[0], x[1], s, 0.5f); }, {q, k});
  AttnMask causal{true, {}};
  AttnMask padded{false, {5, 3}};
  const Mat scores = random_mat(20, 5, 63, -2, 2);
  check_gradients([&](const auto& x) { return masked_softmax(x[0], s, causal); }, {scores});
  check_gradients([&](const auto& x) { return masked_softmax(x[0], s, padded); }, {scores});
  const Mat p = masked_softmax(constant(scores), s, causal)->value;
  REQUIRE(p(0, 1) == 0.0f);  // token 0 of (b0, h0) sees only itself
  REQUIRE(p(0, 0) == Approx(1.0f));
  const Mat pp = masked_softmax(constant(scores), s, padded)->value;
  REQUIRE(pp.block(10, 3, 10, 2).isZero());  // keys 3, 4 of batch 1 are padding
  check_gradients([&](const auto& x) { return attention_apply(x[0], x[1], s); }, {p, v});
  check_gradients([&](const auto& x) { return rope(x[0], s, 10000.0f, 3); }, {q});
  check_gradients([&](const auto& x) { return head_variance(x[0], s); }, {q});
  const Mat teacher = masked_softmax(constant(random_mat(20, 5, 64)), s, padded)->value;
  check_gradients(
      [&](const auto& x) {
        return attention_cosine(masked_softmax(x[0], s, padded), teacher, s, padded);
      },
      {scores});
  check_gradients(
      [&](const auto& x) {
        return mean_pool(x[0], 2, 5, {5, 2});
      },
      {random_mat(10, 3, 65)});
}

TEST_CASE("rope preserves norms and relative positions", "[autograd]") {
  const AttnShape s{1, 6, 1, 8};
  const Mat q = random_mat(6, 8, 70), k = random_mat(6, 8, 71);
  // Same vectors at every position: the rotated dot product depends only on the offset.
  Mat q1 = q.row(0).replicate(6, 1), k1 = k.row(0).replicate(6, 1);
  const Mat rq = rope(constant(q1), s, 10000.0f)->value,
            rk = rope(constant(k1), s, 10000.0f)->value;
  REQUIRE(rq.row(3).norm() == Approx(q1.row(3).norm()).epsilon(1e-5));
  REQUIRE(rq.row(4).dot(rk.row(2)) == Approx(rq.row(3).dot(rk.row(1))).epsilon(1e-4));
}

TEST_CASE("gradients accumulate across backward calls and NoGrad records nothing", "[autograd]") {
  auto w = parameter(random_mat(2, 2, 80));
  backward(sum(w));
  backward(sum(w));
  REQUIRE(w->grad.isApprox(Mat::Constant(2, 2, 2.0f)));
  NoGrad ng;
  auto y = sum(w);
  REQUIRE_FALSE(y->requires_grad);
  REQUIRE(y->parents.empty());
}

}  // namespace
}  // namespace hilq::qat
