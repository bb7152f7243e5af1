// Probability ops and losses: row softmax, cross-entropy, KL divergence and entropy. Sums of
// per-row losses accumulate in double so that a mean over ~10^5 tokens keeps float precision.
#include <algorithm>
#include <cmath>
#include <string>

#include "qat/ops.h"

namespace hilq::qat {
namespace {

// Row softmax of x / tau, numerically stable.
Mat softmax_of(const Mat& x, float tau) {
  Mat z = x / tau;
  Vec mx = z.rowwise().maxCoeff();
  Mat e = (z.colwise() - mx).array().exp().matrix();
  Vec s = e.rowwise().sum();
  return e.array().colwise() / s.array();
}

// Rows per block of log_softmax_of: two block temporaries of a 4096-entry vocabulary (256 KiB
// each) stay in L2, where whole-matrix temporaries (16 MiB each at 1,024 tokens) went to memory
// four times. A multiple of every packet size, so each row and each log sees the same
// vectorization as in one whole-matrix expression: the results are the same bits (tested).
constexpr Eigen::Index kSoftmaxBlockRows = 16;

// Row log-softmax of x / tau.
Mat log_softmax_of(const Mat& x, float tau) {
  Mat out(x.rows(), x.cols());
  Mat z, shifted;
  for (Eigen::Index r0 = 0; r0 < x.rows(); r0 += kSoftmaxBlockRows) {
    const Eigen::Index n = std::min(kSoftmaxBlockRows, x.rows() - r0);
    z = x.middleRows(r0, n) / tau;
    const Vec mx = z.rowwise().maxCoeff();
    shifted = z.colwise() - mx;
    const Vec lse = shifted.array().exp().rowwise().sum().log().matrix();
    out.middleRows(r0, n) = shifted.colwise() - lse;
  }
  return out;
}

}  // namespace

Var softmax_rows(const Var& x) {
  return make_node(softmax_of(x->value, 1.0f), {x}, [x](Node& self) {
    const Mat& p = self.value;
    Vec dot = self.grad.cwiseProduct(p).rowwise().sum();
    x->grad_ref().array() += p.array() * (self.grad.colwise() - dot).array();
  });
}

Var cross_entropy(const Var& logits, const std::vector<int32_t>& targets) {
  if (static_cast<int>(targets.size()) != logits->rows()) {
    throw QatError("cross_entropy: " + std::to_string(targets.size()) + " targets for " +
                   std::to_string(logits->rows()) + " rows");
  }
  const int classes = logits->cols();
  Mat logp = log_softmax_of(logits->value, 1.0f);
  double total = 0.0;
  int count = 0;
  for (size_t i = 0; i < targets.size(); ++i) {
    if (targets[i] < 0) continue;
    if (targets[i] >= classes) {
      throw QatError("cross_entropy: target " + std::to_string(targets[i]) + " at row " +
                     std::to_string(i) + " is not below " + std::to_string(classes));
    }
    total -= logp(static_cast<Eigen::Index>(i), targets[i]);
    ++count;
  }
  Mat out(1, 1);
  out(0, 0) = count ? static_cast<float>(total / count) : 0.0f;
  return make_node(std::move(out), {logits},
                   [logits, targets, count, logp = std::move(logp)](Node& self) {
                     if (count == 0) return;
                     const float g = self.grad(0, 0) / static_cast<float>(count);
                     Mat& gl = logits->grad_ref();
                     for (size_t i = 0; i < targets.size(); ++i) {
                       if (targets[i] < 0) continue;
                       const auto r = static_cast<Eigen::Index>(i);
                       gl.row(r) += g * logp.row(r).array().exp().matrix();
                       gl(r, targets[i]) -= g;
                     }
                   });
}

Var kl_divergence(const Mat& teacher_logits, const Var& student_logits, float tau) {
  if (teacher_logits.rows() != student_logits->rows() ||
      teacher_logits.cols() != student_logits->cols()) {
    throw QatError("kl_divergence: teacher and student logits differ in shape");
  }
  const int rows = student_logits->rows();
  Mat log_pt = log_softmax_of(teacher_logits, tau);
  Mat log_ps = log_softmax_of(student_logits->value, tau);
  Mat pt = log_pt.array().exp().matrix();
  const double kl = (pt.array() * (log_pt - log_ps).array()).cast<double>().sum();
  Mat out(1, 1);
  out(0, 0) = static_cast<float>(kl / rows);
  return make_node(
      std::move(out), {student_logits},
      [student_logits, rows, tau, pt = std::move(pt), log_ps = std::move(log_ps)](Node& self) {
        // d/ds KL = (p_s - p_t) / tau per row.
        const float g = self.grad(0, 0) / (static_cast<float>(rows) * tau);
        student_logits->grad_ref() += g * (log_ps.array().exp().matrix() - pt);
      });
}

Var entropy(const Var& logits) {
  const int rows = logits->rows();
  Mat logp = log_softmax_of(logits->value, 1.0f);
  Mat p = logp.array().exp().matrix();
  Vec h = -(p.array() * logp.array()).rowwise().sum().matrix();
  Mat out(1, 1);
  out(0, 0) = static_cast<float>(h.cast<double>().sum() / rows);
  return make_node(std::move(out), {logits},
                   [logits, rows, p = std::move(p), logp = std::move(logp), h](Node& self) {
                     // dH/dz_j = -p_j (log p_j + H)
                     const float g = self.grad(0, 0) / static_cast<float>(rows);
                     logits->grad_ref().array() += -g * p.array() * (logp.colwise() + h).array();
                   });
}

}  // namespace hilq::qat
