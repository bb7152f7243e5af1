// Squat's training objective: task cross-entropy, logit distillation from the FP
// teacher, the entropy-guided loss on queries/keys and the distribution-aligned loss on attention
// maps; each term can be switched off for ablations.
//
//   L = (1 - gamma) CE + gamma tau^2 KL(teacher || student) + r_E L_E + r_D L_D
//   L_E = -log( sum_layers sum_heads log(1 + var(Q_h) var(K_h)) )
//   L_D = 1 - mean over layers, sequences, heads of cos(student map, teacher map)   [decision]
#pragma once

#include <vector>

#include "qat/autograd.h"
#include "qat/ops.h"

namespace hilq::qat {

struct SquatLossConfig {
  bool distill = true;       // logit KD (off: plain task loss, i.e. LSQ QAT)
  bool entropy = true;       // L_E
  bool distribution = true;  // L_D
  float gamma = 0.5f;
  float tau = 2.0f;
  float r_entropy = 0.5f;
  float r_distribution = 1.0f;
};

Var entropy_guided_loss(const std::vector<Var>& q, const std::vector<Var>& k, const AttnShape& s);
Var distribution_aligned_loss(const std::vector<Var>& student_maps,
                              const std::vector<Mat>& teacher_maps, const AttnShape& s,
                              const AttnMask& mask);

struct LossParts {
  Var total;
  float ce = 0, kd = 0, entropy = 0, distribution = 0;
};
// Combines the terms; teacher_logits/teacher_maps are ignored when their term is off.
// targets index rows of student_logits (< 0: ignored).
LossParts squat_loss(const SquatLossConfig& cfg, const Var& student_logits,
                     const std::vector<int32_t>& targets, const Mat* teacher_logits,
                     const std::vector<Var>& q, const std::vector<Var>& k,
                     const std::vector<Var>& student_maps, const std::vector<Mat>* teacher_maps,
                     const AttnShape& s, const AttnMask& mask);

}  // namespace hilq::qat
