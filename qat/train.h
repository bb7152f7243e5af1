// Training and evaluation loops: causal LM, masked-token pretraining of the encoder, sentiment
// fine-tuning; FP or QAT (a QuantState), with or without an FP teacher (Squat distillation).
// Seeded determinism: batch b of step t depends only on (seed, t, b), so a resumed run draws the
// same batches as an uninterrupted one.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "model/tokenizer.h"
#include "qat/data.h"
#include "qat/losses.h"
#include "qat/model.h"
#include "qat/quant.h"

namespace hilq::qat {

enum class Task { kLm, kMlm, kCls };
const char* task_name(Task t);

struct TrainConfig {
  int steps = 1000;
  int batch = 16;
  int seq = 128;  // LM/MLM window; classifier: longest sentence kept (truncation)
  float lr = 3e-3f;
  float min_lr_ratio = 0.1f;
  int warmup = 100;
  float weight_decay = 0.1f;
  float clip = 1.0f;
  uint64_t seed = 1;
  int log_every = 20;           // progress line period (0: silent)
  int ckpt_every = 0;           // periodic checkpoint period (0: only at the end)
  std::string checkpoint_path;  // empty: no checkpoints
  std::string resume_from;      // checkpoint to continue from (same settings)
  int stop_after = 0;           // > 0: stop after this step (schedule still spans `steps`)
  // Set (Ctrl-C of a caller): training returns before its next step; TrainStats::stopped says so.
  const std::atomic<bool>* stop = nullptr;
  float mlm_fraction = 0.15f;
  std::string label;  // prefix of the progress line
  // > 0: every this many steps (and at the end) the validation perplexity over eval_windows
  // windows is logged and kept in TrainStats::validation (LM only).
  int eval_every = 0;
  int eval_windows = 32;
  bool diagnose_terms = true;  // at the first step: each loss term's value and gradient norm
  // The labelled sentences whose text the model has pretrained on (mlm --corpus sentiment; kept in
  // the checkpoint and carried by every later training of it): the training part of fold
  // sentence_text_fold of sentence_text_folds, or of the fixed split (folds 0). -1: none.
  int sentence_text_folds = -1, sentence_text_fold = -1;
};

// Token streams and tokenized sentences, built once per tokenizer.
struct TaskData {
  std::vector<int32_t> lm_train, lm_validation, lm_test;  // documents joined by <|endoftext|>
  std::vector<std::vector<int32_t>> cls_train_x, cls_dev_x, cls_test_x;
  std::vector<int> cls_train_y, cls_dev_y, cls_test_y;
  int32_t mask_id = -1, pad_id = -1, eot_id = -1;
};
// Specials every hilq vocabulary carries (ids at the end of the vocabulary).
const std::vector<std::string>& hilq_specials();  // <|endoftext|>, <pad>, <mask>
TaskData tokenize_lm(const LmCorpus& corpus, const model::BpeTokenizer& tok);
void tokenize_cls(const SentimentSplits& splits, const model::BpeTokenizer& tok, TaskData* data);

// A loss term at the first step of a run: its value, weight, and the L2 norm of the gradient of
// weight * value with respect to the model's weights and to the quantizer steps.
struct TermStat {
  std::string name;
  float weight = 1, value = 0;
  double grad_norm_weights = 0, grad_norm_steps = 0;
};

struct TrainStats {
  int64_t steps = 0;  // steps run in this call
  double seconds = 0;
  double tokens_per_s = 0;              // tokens through forward+backward per second
  float first_loss = 0, last_loss = 0;  // mean of the first / last up to 10 steps
  std::vector<float> losses;
  // Per step: the unweighted value of each loss term (names and weights in term_names/weights).
  std::vector<std::string> term_names;
  std::vector<float> term_weights;
  std::vector<std::vector<float>> term_values;
  std::vector<TermStat> term_stats;                    // when diagnose_terms (first step)
  std::vector<std::pair<int64_t, double>> validation;  // (step, perplexity) when eval_every > 0
  bool stopped = false;                                // TrainConfig::stop ended it early
};

// Each term's value and gradient norms (backward of weight * value alone, grads zeroed after).
// params: the trainable leaves; names ending in _step / step_hi / step_lo are quantizer steps.
std::vector<TermStat> diagnose_loss_terms(const LossParts& parts,
                                          const std::vector<std::pair<std::string, Var>>& params);

// Trains model (and the quantizer steps when quant is set). teacher != nullptr enables the
// distillation terms that loss switches on (Squat); without a teacher the loss is the task's
// cross-entropy. Saves a checkpoint at the end when cfg.checkpoint_path is set.
TrainStats train(Task task, Transformer& model, QuantState* quant, const Transformer* teacher,
                 const SquatLossConfig& loss, const TaskData& data, const TrainConfig& cfg,
                 const model::BpeTokenizer& tok);

// Perplexity over non-overlapping windows of `seq` tokens (max_windows > 0 caps the count).
double eval_perplexity(const Transformer& model, QuantState* quant,
                       const std::vector<int32_t>& stream, int seq, int batch, int max_windows = 0);
// Classification accuracy in [0, 1].
double eval_accuracy(const Transformer& model, QuantState* quant,
                     const std::vector<std::vector<int32_t>>& x, const std::vector<int>& y,
                     int max_seq, int batch, int32_t pad_id);
// Runs `batches` training batches through the float model with quant in observe mode, then
// initialises its steps (LSQ init or post-training MSE calibration).
void calibrate(Task task, const Transformer& model, QuantState* quant, const TaskData& data,
               const TrainConfig& cfg, int batches, QuantState::Init how);

// Batch builders (exposed for tests): targets per row, -1 = no loss.
Batch lm_batch(const std::vector<int32_t>& stream, int batch, int seq, uint64_t seed, int64_t step,
               std::vector<int32_t>* targets);
Batch cls_batch(const std::vector<std::vector<int32_t>>& x, const std::vector<int>& y,
                const std::vector<int>& rows, int max_seq, int32_t pad_id,
                std::vector<int32_t>* labels);

std::string format_duration(double seconds);

}  // namespace hilq::qat
