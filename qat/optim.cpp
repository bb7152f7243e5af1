// AdamW and the learning-rate schedule.
#include "qat/optim.h"

#include <cmath>

namespace hilq::qat {

AdamW::AdamW(std::vector<std::pair<std::string, Var>> params, std::vector<bool> decay,
             AdamWConfig cfg)
    : params_(std::move(params)), decay_(std::move(decay)), cfg_(cfg) {
  if (decay_.size() != params_.size()) throw QatError("AdamW: one decay flag per parameter");
  for (const auto& [n, p] : params_) {
    m_.push_back(Mat::Zero(p->rows(), p->cols()));
    v_.push_back(Mat::Zero(p->rows(), p->cols()));
  }
}

double AdamW::clip_grad_norm(double max_norm) {
  double sq = 0;
  for (const auto& [n, p] : params_) {
    if (p->grad.size()) sq += p->grad.cast<double>().squaredNorm();
  }
  const double norm = std::sqrt(sq);
  if (max_norm > 0 && norm > max_norm) {
    const auto f = static_cast<float>(max_norm / (norm + 1e-12));
    for (auto& [n, p] : params_) {
      if (p->grad.size()) p->grad *= f;
    }
  }
  return norm;
}

void AdamW::step(float lr) {
  ++t_;
  const double bc1 = 1.0 - std::pow(static_cast<double>(cfg_.beta1), static_cast<double>(t_));
  const double bc2 = 1.0 - std::pow(static_cast<double>(cfg_.beta2), static_cast<double>(t_));
  const auto step_size = static_cast<float>(lr / bc1);
  const auto inv_bc2_sqrt = static_cast<float>(1.0 / std::sqrt(bc2));
  for (size_t i = 0; i < params_.size(); ++i) {
    Var& p = params_[i].second;
    if (p->grad.size() == 0) continue;
    if (decay_[i] && cfg_.weight_decay > 0) p->value *= 1.0f - lr * cfg_.weight_decay;
    m_[i] = cfg_.beta1 * m_[i] + (1.0f - cfg_.beta1) * p->grad;
    v_[i] = cfg_.beta2 * v_[i] + (1.0f - cfg_.beta2) * p->grad.cwiseAbs2();
    p->value.array() -=
        step_size * m_[i].array() / ((v_[i].array().sqrt() * inv_bc2_sqrt) + cfg_.eps);
  }
}

void AdamW::zero_grad() {
  for (auto& [n, p] : params_) p->grad.resize(0, 0);
}

float warmup_cosine_lr(int step, int total, int warmup, float peak, float min_ratio) {
  if (warmup > 0 && step < warmup)
    return peak * static_cast<float>(step + 1) / static_cast<float>(warmup);
  const int span = std::max(1, total - warmup);
  const double progress = std::min(1.0, static_cast<double>(step - warmup) / span);
  const double cosine = 0.5 * (1.0 + std::cos(3.141592653589793 * progress));
  return static_cast<float>(peak * (min_ratio + (1.0 - min_ratio) * cosine));
}

}  // namespace hilq::qat
