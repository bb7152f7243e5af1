// hil-train's subcommands without their command line: each takes a typed struct (qat/main.cpp
// fills it from the flags), runs qat's training entry points and prints what hil-train prints.
// Each returns the exit code (0); a request that cannot be run throws hilq::UsageError (exit 2).
#pragma once

#include <optional>
#include <string>

#include "qat/experiment.h"
#include "qat/train.h"

namespace hilq::qat {

// The training flags of `train` and `qat` (--steps, --batch, ...): unset keeps the default.
struct TrainFlags {
  std::optional<int> steps, batch, seq, warmup, seed, log_every, ckpt_every, stop_after;
  std::optional<double> lr, weight_decay, clip;
  std::optional<std::string> out;  // --out: where checkpoints go
  std::string resume;              // --resume CKPT
};

// `defaults` with the flags `a` applied. Throws UsageError unless steps, batch >= 1, seq >= 2, lr >
// 0.
TrainConfig train_config(const TrainFlags& a, const TrainConfig& defaults);

struct TokenizerCommand {
  int vocab = 4096;
  std::string out;
  std::string data_dir;
};

struct TrainCommand {
  Task task = Task::kLm;
  std::string tokenizer;  // lm, mlm: the BPE (JSON)
  std::string init;       // cls: the masked-token pretrained checkpoint to fine-tune;
                          // mlm: an encoder to pretrain further
  // mlm: "lm" (the LM corpus' train split) or "sentiment" (the text of the labelled sentences
  // that fine-tuning trains on, labels unused: the held-out fold's or test split's never).
  std::string corpus = "lm";
  std::string model = "tiny";  // micro | tiny | small | FILE.json
  std::optional<double> dropout;
  std::optional<double> mask_fraction;  // mlm: fraction of positions that become targets
  // cls: the tokenizer's normalization (absent: classifier_text(), qat/experiment.h)
  std::optional<std::string> normalize;
  std::string data_dir;
  int folds = 0, fold = -1;  // cls: train on the other folds of --folds, test on --fold
  TrainFlags train;
};

struct EvalCommand {
  Task task = Task::kLm;
  std::string checkpoint;
  std::string split = "validation";
  std::optional<int> seq;  // default 96 (cls), 128 (lm)
  int batch = 16;
  std::string data_dir;
};

struct ExportCommand {
  std::string checkpoint;
  std::string out;
};

// Squat's loss flags shared by qat and experiment: --entropy-form, --r-entropy, --r-distribution.
struct SquatWeights {
  std::string entropy_form = "per-token";
  std::optional<double> r_entropy, r_distribution;
};
// cfg with the flags applied; throws ConfigError on a bad --entropy-form.
SquatLossConfig squat_loss_config(const SquatWeights& w, SquatLossConfig cfg);

struct QatCommand {
  Task task = Task::kLm;
  std::string teacher;
  std::string quant_file;  // exactly one of quant_file and setting
  std::string setting;
  std::string method = "squat";
  bool kd = true, entropy = true, distribution = true;  // --no-kd, --no-entropy, ...
  SquatWeights weights;
  int calib_batches = 8;
  int eval_windows = 0;
  bool mse_init = false;  // --step-init mse
  std::string data_dir;
  int folds = 0, fold = -1;  // cls: train on the other folds of --folds, test on --fold
  TrainFlags train;
};

struct ExperimentCommand {
  Task task = Task::kLm;
  std::string teacher;
  std::string out_dir;
  std::string settings =
      "W8A8,W4A8,W4A4-TA8/4@0.25,W4A4-TA8/4,W4A4-TA8/4@0.75,W4A4,W3A4,W2A8,W4A8-E4";
  std::string methods = "fp-ft,ptq,lsq,squat,squat-e,squat-d";
  int calib_batches = 8;
  int eval_windows = 0;
  bool mse_init = false;
  int seeds = 1;             // --seeds N: seeds --seed .. --seed + N - 1
  int jobs = 1;              // --jobs N: runs trained side by side
  bool resume = false;       // --resume: keep the runs already in --out/results.json
  bool tables_only = false;  // --tables-only: with --resume, write the tables and run nothing
  int eval_every = 0;        // --eval-every N: validation perplexity during QAT (LM)
  int folds = 0;             // --folds K: cls cross-validation (--teacher is then the encoder)
  // --ft-steps, --ft-batch, --ft-lr, --ft-warmup: each fold teacher's fine-tune (cls defaults)
  int ft_steps = 300, ft_batch = 32, ft_warmup = 50;
  double ft_lr = 5e-4;
  std::optional<std::string> ft_normalize;  // --ft-normalize: their text (as train's --normalize)
  SquatWeights weights;
  std::string command_line;  // quoted in results.md
  std::string data_dir;
  TrainFlags train;     // steps, batch, seq, lr, seed, log_every, warmup
  ExperimentSink sink;  // optional: each finished row (hil-train stores them in SQLite)
};

// What every subcommand does first: heap tuning for the training loops, and --threads.
void prepare_process(int threads);

int run_tokenizer(const TokenizerCommand& a);
int run_train(const TrainCommand& a);
int run_eval(const EvalCommand& a);
int run_export(const ExportCommand& a);
int run_qat(const QatCommand& a);
int run_experiment_command(const ExperimentCommand& a);

}  // namespace hilq::qat
