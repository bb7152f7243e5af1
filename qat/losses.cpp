// Squat's loss terms built from autograd ops (their gradients are checked op by op).
#include "qat/losses.h"

namespace hilq::qat {

Var entropy_guided_loss(const std::vector<Var>& q, const std::vector<Var>& k, const AttnShape& s) {
  Var total;
  for (size_t l = 0; l < q.size(); ++l) {
    Var t = sum(log1p_op(mul(head_variance(q[l], s), head_variance(k[l], s))));
    total = total ? add(total, t) : t;
  }
  return scale(log_op(total), -1.0f);
}

Var distribution_aligned_loss(const std::vector<Var>& student_maps,
                              const std::vector<Mat>& teacher_maps, const AttnShape& s,
                              const AttnMask& mask) {
  Var total;
  for (size_t l = 0; l < student_maps.size(); ++l) {
    Var c = attention_cosine(student_maps[l], teacher_maps[l], s, mask);
    total = total ? add(total, c) : c;
  }
  return add_scalar(scale(total, -1.0f / static_cast<float>(student_maps.size())), 1.0f);
}

LossParts squat_loss(const SquatLossConfig& cfg, const Var& student_logits,
                     const std::vector<int32_t>& targets, const Mat* teacher_logits,
                     const std::vector<Var>& q, const std::vector<Var>& k,
                     const std::vector<Var>& student_maps, const std::vector<Mat>* teacher_maps,
                     const AttnShape& s, const AttnMask& mask) {
  LossParts p;
  Var ce = cross_entropy(student_logits, targets);
  p.ce = ce->scalar();
  Var total = ce;
  if (cfg.distill && teacher_logits) {
    // Distill only the rows that carry a target (e.g. masked positions, real tokens).
    Var kd = kl_divergence(*teacher_logits, student_logits, cfg.tau);
    p.kd = kd->scalar();
    total = add(scale(ce, 1.0f - cfg.gamma), scale(kd, cfg.gamma * cfg.tau * cfg.tau));
  }
  if (cfg.entropy && !q.empty()) {
    Var le = entropy_guided_loss(q, k, s);
    p.entropy = le->scalar();
    total = add(total, scale(le, cfg.r_entropy));
  }
  if (cfg.distribution && teacher_maps && !student_maps.empty()) {
    Var ld = distribution_aligned_loss(student_maps, *teacher_maps, s, mask);
    p.distribution = ld->scalar();
    total = add(total, scale(ld, cfg.r_distribution));
  }
  p.total = total;
  return p;
}

}  // namespace hilq::qat
