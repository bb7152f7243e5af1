// Squat's training objective: task cross-entropy, logit distillation from the FP
// teacher, the entropy-guided loss on queries/keys and the distribution-aligned loss on attention
// maps; each term can be switched off for ablations.
//
//   L = (1 - gamma) CE + gamma tau^2 KL(teacher || student) + r_E L_E + r_D L_D
//   L_E per-token (default, as the method's released training code computes it):
//       -log( sum_layers sum_(batch, head, token) [log(1 + var(q)) + log(1 + var(k))] )
//       with var over the head_dim entries of one token's (quantized, post-RoPE) query/key,
//       unbiased (divisor head_dim - 1); padded tokens are left out
//   L_E per-token-float (--entropy-form per-token-float): the per-token form on the queries/keys
//       before their activation quantizer: the variance it rewards has no rounding noise in it
//       (var of a quantized q is about var(q) + s^2/12, so the quantized form pays for a larger
//       step s), and a layer's own Q/K steps get no gradient from it
//   L_E per-head (the printed formula; --entropy-form per-head):
//       -log( sum_layers sum_heads log(1 + var(Q_h) var(K_h)) ), var over all tokens and dims
//   L_D = 1 - mean over layers, sequences, heads of cos(student map, teacher map)   [decision]
#pragma once

#include <string>
#include <vector>

#include "qat/autograd.h"
#include "qat/ops.h"

namespace hilq::qat {

// Which variance the entropy-guided loss maximises (see above).
enum class EntropyForm { kPerToken, kPerHead, kPerTokenFloat };
const char* entropy_form_name(EntropyForm f);  // "per-token" | "per-head" | "per-token-float"
// Whether the form reads the queries/keys before their quantizer (ForwardResult::q_float).
bool entropy_on_float(EntropyForm f);
// Throws ConfigError naming `field` unless name is per-token, per-head or per-token-float.
EntropyForm parse_entropy_form(const std::string& name, const std::string& field);

struct SquatLossConfig {
  bool distill = true;       // logit KD (off: plain task loss, i.e. LSQ QAT)
  bool entropy = true;       // L_E
  bool distribution = true;  // L_D
  float gamma = 0.5f;
  float tau = 2.0f;
  float r_entropy = 0.1f;  // the paper: 0.5; see qat/README.md (measured gradient norms)
  float r_distribution = 1.0f;
  EntropyForm entropy_form = EntropyForm::kPerToken;
};

// mask.lengths (when set) excludes padded tokens from the per-token form.
Var entropy_guided_loss(const std::vector<Var>& q, const std::vector<Var>& k, const AttnShape& s,
                        EntropyForm form = EntropyForm::kPerToken, const AttnMask& mask = {});
Var distribution_aligned_loss(const std::vector<Var>& student_maps,
                              const std::vector<Mat>& teacher_maps, const AttnShape& s,
                              const AttnMask& mask);

// One term of the objective: total = sum of weight * value over the terms.
struct LossTerm {
  std::string name;  // ce, kd, entropy, distribution
  float weight = 1;
  Var value;  // unweighted, 1x1
};

struct LossParts {
  Var total;
  float ce = 0, kd = 0, entropy = 0, distribution = 0;  // unweighted values (0 when off)
  std::vector<LossTerm> terms;                          // the terms that are on, in that order
};
// Combines the terms; teacher_logits/teacher_maps are ignored when their term is off.
// targets index rows of student_logits (< 0: ignored).
LossParts squat_loss(const SquatLossConfig& cfg, const Var& student_logits,
                     const std::vector<int32_t>& targets, const Mat* teacher_logits,
                     const std::vector<Var>& q, const std::vector<Var>& k,
                     const std::vector<Var>& student_maps, const std::vector<Mat>* teacher_maps,
                     const AttnShape& s, const AttnMask& mask);

}  // namespace hilq::qat
