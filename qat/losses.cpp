// Squat's loss terms built from autograd ops (their gradients are checked op by op).
#include "qat/losses.h"

#include "base/error.h"

namespace hilq::qat {
namespace {

// The rows of real tokens (all rows without a padding mask), for embedding() to gather.
std::vector<int32_t> real_rows(const AttnShape& s, const AttnMask& mask) {
  std::vector<int32_t> rows;
  if (mask.lengths.empty()) return rows;
  for (int b = 0; b < s.batch; ++b) {
    for (int t = 0; t < mask.lengths[static_cast<size_t>(b)]; ++t) rows.push_back(b * s.seq + t);
  }
  return rows;
}

}  // namespace

const char* entropy_form_name(EntropyForm f) {
  switch (f) {
    case EntropyForm::kPerToken:
      return "per-token";
    case EntropyForm::kPerHead:
      return "per-head";
    case EntropyForm::kPerTokenFloat:
      return "per-token-float";
  }
  return "per-token";
}

bool entropy_on_float(EntropyForm f) { return f == EntropyForm::kPerTokenFloat; }

EntropyForm parse_entropy_form(const std::string& name, const std::string& field) {
  for (EntropyForm f :
       {EntropyForm::kPerToken, EntropyForm::kPerHead, EntropyForm::kPerTokenFloat}) {
    if (name == entropy_form_name(f)) return f;
  }
  throw ConfigError(field + ": '" + name + "' is not per-token, per-head or per-token-float");
}

Var entropy_guided_loss(const std::vector<Var>& q, const std::vector<Var>& k, const AttnShape& s,
                        EntropyForm form, const AttnMask& mask) {
  // The float form is the per-token form on other inputs (the caller passes them).
  const bool per_token = form != EntropyForm::kPerHead;
  const std::vector<int32_t> rows = per_token ? real_rows(s, mask) : std::vector<int32_t>{};
  auto tokens = [&](const Var& x) {
    const Var v = token_variance(x, s);  // (batch*seq) x heads
    return sum(log1p_op(rows.empty() ? v : embedding(v, rows)));
  };
  Var total;
  for (size_t l = 0; l < q.size(); ++l) {
    Var t = per_token ? add(tokens(q[l]), tokens(k[l]))
                      : sum(log1p_op(mul(head_variance(q[l], s), head_variance(k[l], s))));
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
  if (cfg.distill && teacher_logits) {
    // Distill only the rows that carry a target (e.g. masked positions, real tokens).
    Var kd = kl_divergence(*teacher_logits, student_logits, cfg.tau);
    p.kd = kd->scalar();
    p.terms.push_back({"ce", 1.0f - cfg.gamma, ce});
    p.terms.push_back({"kd", cfg.gamma * cfg.tau * cfg.tau, kd});
  } else {
    p.terms.push_back({"ce", 1.0f, ce});
  }
  if (cfg.entropy && !q.empty()) {
    Var le = entropy_guided_loss(q, k, s, cfg.entropy_form, mask);
    p.entropy = le->scalar();
    p.terms.push_back({"entropy", cfg.r_entropy, le});
  }
  if (cfg.distribution && teacher_maps && !student_maps.empty()) {
    Var ld = distribution_aligned_loss(student_maps, *teacher_maps, s, mask);
    p.distribution = ld->scalar();
    p.terms.push_back({"distribution", cfg.r_distribution, ld});
  }
  for (const auto& t : p.terms) {
    const Var w = t.weight == 1.0f ? t.value : scale(t.value, t.weight);
    p.total = p.total ? add(p.total, w) : w;
  }
  return p;
}

}  // namespace hilq::qat
