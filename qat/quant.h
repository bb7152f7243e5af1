// Fake quantization for QAT: LSQ (learned step size, gradient scaling, straight-through estimator)
// for weights per output channel (or per group) and activations per bit-width token group, dynamic
// per-token absmax as an option, and the Squat token-importance mask. The forward of every op calls
// kernels/quantize.h, so training sees exactly the integers the boards compute.
//
// LSQ, with v = x / s, n = qmin(b), p = qmax(b), x_hat = s * clamp(round_half_even(v), n, p):
//   dx_hat/dx = 1 if n <= v <= p else 0                           (straight-through estimator)
//   dx_hat/ds = round(v) - v if n <= v <= p, n if v < n, p if v > p   times g = 1/sqrt(N * p)
// where N is the number of elements sharing the step in the batch. Init: s = 2 mean|x| / sqrt(p).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "model/architecture.h"
#include "model/quant_spec.h"
#include "qat/autograd.h"
#include "qat/ops.h"

namespace hilq::qat {

// w (rows x cols), step (rows x groups), groups = cols / group (group 0: one step per row).
Var lsq_weight(const Var& w, const Var& step, int bits, int group);
// Per-tensor learned steps for two token groups: rows with high[r] != 0 (or all rows when high is
// empty) use (step_hi, bits_hi), the others (step_lo, bits_lo).
Var lsq_activation(const Var& x, const Var& step_hi, int bits_hi, const Var& step_lo, int bits_lo,
                   const std::vector<uint8_t>& high);
// Per-token absmax scales (kernels::absmax_scale), straight-through on x; scales are not learned.
Var dynamic_token_quant(const Var& x, int bits_hi, int bits_lo, const std::vector<uint8_t>& high);
// A fixed scale (attention probabilities: 8 bits, scale 1/127), straight-through inside the range.
Var fixed_quant(const Var& x, float scale, int bits);

// Squat's token importance: per sequence, the attention each query token pays to the first token,
// averaged over heads (the first column of the map); the top ceil(fraction * length) tokens get 1.
// Ties go to the earlier token. Rows of padding tokens get 0.
std::vector<uint8_t> token_importance_mask(const Mat& probs, const AttnShape& s,
                                           const std::vector<int>& lengths, double fraction);

// LSQ's initial step, 2 mean|x| / sqrt(qmax) (a tiny positive value for all-zero input).
float lsq_init_step(const float* x, size_t n, int bits);
// Post-training step: the clipping of absmax (ratios 1.0 down to 0.30) with the least squared
// quantization error on x.
float mse_step(const float* x, size_t n, int bits);

// Fixed scale of the attention probabilities (8-bit, signed quantizer: p = q / 127).
constexpr float kProbScale = 1.0f / 127.0f;
constexpr int kProbBits = 8;

// One activation quantization point (e.g. "layers.0.attn.qkv.in", model::activation_points).
struct ActPoint {
  int bits = 0;            // uniform bits, or the high group's bits when adaptive; 0 = float
  int low_bits = 0;        // > 0: token-adaptive
  bool prev_mask = false;  // token groups follow the previous layer's attention map
  Var step_hi, step_lo;
};

// One quantized weight (a unit of the quant config).
struct WeightPoint {
  int bits = 0;
  int group = 0;
  Var step;  // rows x groups
};

// Statistics gathered in observe mode (float forward) to initialise or calibrate the steps.
struct ActStats {
  double abs_sum[2] = {0, 0};
  int64_t count[2] = {0, 0};
  std::vector<float> sample[2];  // strided sample for the post-training MSE step
};

// The quantizers of one model under one quant config, with their learnable steps.
class QuantState {
 public:
  // A classifier has no LM head, so the embedding unit's head input point is left out (only
  // its weights, the token lookup, are quantized).
  QuantState(const model::QuantSpec& config, int n_layers,
             model::ModelKind kind = model::ModelKind::kCausalLm);

  enum class Mode { kQuantize, kObserve };
  Mode mode = Mode::kQuantize;

  const model::QuantSpec& config() const { return config_; }
  bool any_adaptive() const { return any_adaptive_; }
  double high_fraction() const;

  // Fake-quantizes a weight of unit `unit` (identity when the unit stays float).
  Var weight(const std::string& unit, const Var& w);
  // Fake-quantizes activation point `point`; high = token mask (empty = all high).
  Var act(const std::string& point, const Var& x, const std::vector<uint8_t>& high);
  bool has_act(const std::string& point) const { return acts_.count(point) != 0; }

  // Step initialisation from the weights and from observed statistics. LSQ: s = 2 mean|x|/sqrt(p);
  // PTQ: MSE-optimal clipping of absmax. Weights need the model's current values.
  enum class Init { kLsq, kPtq };
  // Steps computed earlier from the same weights, by (unit, bits, group, init): a unit found in it
  // takes its steps from it (the same values), a unit not found is computed and added. Only valid
  // while the weights it was filled from stay unchanged (the host scorer's float model).
  using WeightStepCache = std::map<std::tuple<std::string, int, int, Init>, Mat>;
  void init_weight_steps(const std::map<std::string, Var>& unit_weights, Init how,
                         WeightStepCache* cache = nullptr);
  void init_act_steps(Init how);
  // Clamps learned steps to stay positive after an optimizer update.
  void clamp_steps();

  // Learnable steps, named "<unit>.w_step", "<point>.a_step_hi", "<point>.a_step_lo".
  std::vector<std::pair<std::string, Var>> named_parameters() const;
  const std::map<std::string, WeightPoint>& weights() const { return weights_; }
  const std::map<std::string, ActPoint>& acts() const { return acts_; }

 private:
  void add_act(const model::ActivationPoint& point, bool force_high);
  model::QuantSpec config_;
  std::map<std::string, WeightPoint> weights_;
  std::map<std::string, ActPoint> acts_;
  std::map<std::string, ActStats> stats_;
  bool any_adaptive_ = false;
};

}  // namespace hilq::qat
