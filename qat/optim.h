// AdamW with decoupled weight decay, warm-up + cosine learning rate, global-norm gradient clipping.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "qat/autograd.h"

namespace hilq::qat {

struct AdamWConfig {
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;
};

class AdamW {
 public:
  // decay[i] says whether params[i] gets weight decay (matrices yes; norms, biases, steps no).
  AdamW(std::vector<std::pair<std::string, Var>> params, std::vector<bool> decay, AdamWConfig cfg);

  // Scales all gradients so their global L2 norm is at most max_norm; returns the norm before.
  double clip_grad_norm(double max_norm);
  void step(float lr);
  void zero_grad();

  int64_t steps_taken() const { return t_; }
  // Moments by parameter name, for checkpoints.
  const std::vector<std::pair<std::string, Var>>& params() const { return params_; }
  Mat& first_moment(size_t i) { return m_[i]; }
  Mat& second_moment(size_t i) { return v_[i]; }
  void set_steps_taken(int64_t t) { t_ = t; }

 private:
  std::vector<std::pair<std::string, Var>> params_;
  std::vector<bool> decay_;
  AdamWConfig cfg_;
  std::vector<Mat> m_, v_;
  int64_t t_ = 0;
};

// Linear warm-up over `warmup` steps to `peak`, then cosine decay to peak * min_ratio at `total`.
float warmup_cosine_lr(int step, int total, int warmup, float peak, float min_ratio);

}  // namespace hilq::qat
