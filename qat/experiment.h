// QAT runs from a teacher checkpoint (PTQ, LSQ, Squat and its ablations) and the experiment
// table: every setting x method with the same steps and seeds, written as TSV and Markdown.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>

#include "model/quant_spec.h"
#include "model/tokenizer.h"
#include "qat/checkpoint.h"
#include "qat/losses.h"
#include "qat/train.h"

namespace hilq::qat {

// A quantized setting ("W8A8", "W4A4-TA8/4", "W4A8g32", ...; model/setting.h) as the uniform
// config of an n-layer model with learned (lsq) activation steps. Throws ConfigError otherwise.
model::QuantSpec setting_config(const std::string& setting, int n_layers);

// The control method: the float teacher trained on with the same recipe, no quantizers (setting
// FP32). Against it, a QAT run's gain that only comes from more training of a teacher that has
// not converged shows as no gain.
inline const std::string kFpFinetune = "fp-ft";

// Defaults of a QAT run (short: the teacher already converged).
TrainConfig default_qat_config(Task task);

struct QatRequest {
  Task task = Task::kLm;
  std::string teacher_path;
  std::string setting;  // or quant_json
  std::string quant_json;
  std::string method = "squat";  // ptq | lsq | squat
  SquatLossConfig loss;          // used by squat
  int calib_batches = 8;
  int eval_windows = 0;   // LM: validation windows evaluated (0: all of them)
  bool mse_init = false;  // QAT steps start from the PTQ (MSE) calibration, not LSQ's formula
  std::string data_dir;
  // cls cross-validation: train on the other folds of `folds`, test on fold `fold`
  // (qat/data.h: sentiment_fold); folds = 0 is the fixed split.
  int folds = 0, fold = -1;
  TrainConfig train;  // checkpoint_path = where the QAT checkpoint goes (optional)
};

struct QatOutcome {
  std::string setting;
  double metric = 0;        // LM: validation perplexity; cls: test accuracy
  double dev_metric = 0;    // cls: dev accuracy
  double test_metric = 0;   // LM: test perplexity; cls: test accuracy (= metric)
  double tokens_per_s = 0;  // QAT training throughput (0 for PTQ)
  double seconds = 0;
  int64_t steps = 0;                                   // QAT steps run (0 for PTQ)
  std::vector<TermStat> term_stats;                    // loss terms at the first step
  std::vector<std::pair<int64_t, double>> validation;  // (step, perplexity) with eval_every
};

QatOutcome run_qat_request(const QatRequest& r);

// One finished cell of the experiment table: a setting trained (or calibrated) by a method.
struct ExperimentRow {
  std::string setting;  // FP32 for the teacher itself
  std::string method;   // fp, ptq, lsq, squat, squat-e, squat-d
  QatOutcome outcome;
  int64_t seed = 0;  // the run's training/calibration seed (the FP row: the first seed)
  int fold = -1;     // cls cross-validation: the held-out fold (-1: the fixed split)
  // The vector instructions of the build that ran it (training_build()); builds of different
  // widths round differently, so a row reproduces bit for bit only on its own. Empty: unknown
  // (results.json written before builds were recorded).
  std::string build;
};

// This binary's vector instruction sets as Eigen uses them, e.g. "AVX512, FMA, AVX2, AVX, SSE,
// SSE2, SSE3, SSSE3, SSE4.1, SSE4.2".
std::string training_build();

// Mean and sample standard deviation (n - 1; 0 for n < 2) of values.
struct MeanSd {
  double mean = 0, sd = 0;
  int n = 0;
};
MeanSd mean_sd(const std::vector<double>& values);

// The time the remaining runs of an experiment will take: each priced at the mean time of the
// finished runs of its method (PTQ takes seconds, Squat many minutes); a method not timed yet at
// the mean of the finished trained (non-PTQ) runs, else of all; divided by the runs side by side.
double seconds_left(const std::vector<std::string>& remaining,
                    const std::map<std::string, MeanSd>& finished, int jobs);

// The price of each method before a run of it has finished here: the median time of its kept
// runs, those in the table and those outside it (other settings of the same recipe), so that one
// run slowed by a loaded machine does not set it. Runs of another step count, rows without a time
// and the FP teacher's evaluation rows are left out. `n` is the number of runs priced.
std::map<std::string, MeanSd> kept_method_seconds(const std::vector<ExperimentRow>& rows,
                                                  int64_t steps);

// Paired differences a_i - b_i (same seed, same fold) and what they say. A method counts as
// better only when it is better in every pair and the mean difference is larger than its sd;
// otherwise the difference is inside the spread: no difference. One pair has no spread and
// supports no claim either.
struct PairedDifference {
  MeanSd diff;
  int a_better = 0, b_better = 0;  // pairs where a (b) is strictly better
  std::string reading;             // "a better in every pair", "no difference (...)", ...
};
// lower_is_better: perplexity (true) or accuracy (false). Names a and b in the reading.
PairedDifference paired_difference(const std::vector<double>& a, const std::vector<double>& b,
                                   bool lower_is_better, const std::string& a_name,
                                   const std::string& b_name);
// Called with every finished row (e.g. to store it as an evaluation: search/qat_evaluations.h).
using ExperimentSink = std::function<void(const ExperimentRow&)>;

// How a classifier's tokenizer normalizes text unless told otherwise (hil-train train --task cls
// --normalize): lowercase with a leading space (see model/tokenizer.h).
model::Normalization classifier_text();

struct ExperimentRequest {
  Task task = Task::kLm;
  std::string teacher_path;
  std::string out_dir;
  std::string data_dir;
  std::string settings;  // comma-separated
  std::string methods;   // comma-separated: ptq, lsq, squat, squat-e, squat-d
  int calib_batches = 8;
  int eval_windows = 0;      // LM: validation windows evaluated (0: all of them)
  bool mse_init = false;     // QAT steps start from the PTQ (MSE) calibration, not LSQ's formula
  int seeds = 1;             // every (setting, method) with seeds train.seed, train.seed + 1, ...
  int jobs = 1;              // runs trained side by side, each on its own thread and teacher copy
  bool resume = false;       // keep the runs of out_dir/results.json (same recipe), run the rest
  bool tables_only = false;  // with resume: rewrite results.md/json from the kept runs only
  // cls: > 0 runs a k-fold cross-validation over every labelled sentence. teacher_path is then
  // the masked-token pretrained encoder; each fold's FP teacher is fine-tuned from it with
  // `finetune` on the other folds (saved as fold_teacher_path; --resume reuses it) and every
  // run of that fold starts from it and is tested on the held-out fold.
  int folds = 0;
  TrainConfig finetune;
  // cls with folds: how the fold teachers' tokenizer normalizes text (hil-train train --normalize).
  model::Normalization finetune_text = classifier_text();
  SquatLossConfig loss;  // Squat's weights and entropy form (squat-e / squat-d switch a term off)
  TrainConfig train;
  std::string command_line;  // the experiment's own command, quoted in results.md
  ExperimentSink sink;       // optional: each row as it finishes, besides the TSV line
};

// Writes out_dir/results.tsv (one line per finished run, flushed as it goes), and after every
// run out_dir/results.md and out_dir/results.json: mean +- sd over the seeds of the test metric
// (LM: test perplexity, cls: test accuracy) per (method, setting), every run's row, the loss
// terms at the first step, and the commands that reproduce each run. A run's values do not depend
// on `jobs` (each run has its own seed, student and teacher copy); the tables list runs in the
// same order whatever order they finished in. With `resume`, runs already in results.json are
// kept (and passed to the sink again, so a new database run holds the whole table) when its
// recipe equals this one's (a differing field is an error naming it; --seeds may grow).
void run_experiment(const ExperimentRequest& r);

// Throws ConfigError unless `encoder` (loaded from `path`) may start training for the split
// `folds`/`fold` (folds 0: the fixed split; -1: every fold of a cross-validation): one fine-tuned
// on the labelled sentences (train_state task cls) has seen every held-out fold (refused unless
// folds is 0), one pretrained on sentences' text (sentence_text) only that split's. Returns the
// split whose sentences' text the encoder saw ({-1, -1}: none), for its next checkpoint to carry.
std::pair<int, int> check_encoder(const LoadedCheckpoint& encoder, const std::string& path,
                                  int folds = -1, int fold = -1);

// The hil-train qat command that reproduces one run of the experiment.
std::string qat_command_for(const ExperimentRequest& r, const std::string& setting,
                            const std::string& method, int64_t seed, int fold = -1);

// Where a cross-validation keeps fold `fold`'s fine-tuned FP teacher, and the hil-train train
// command that makes it.
std::string fold_teacher_path(const std::string& out_dir, int fold);
std::string fold_teacher_command(const ExperimentRequest& r, int fold);

// The fine-tuning recipe of hil-train train --task cls: the defaults every cls fine-tune starts
// from (a fold teacher is made with these and the --ft-* values).
TrainConfig cls_finetune_defaults();

}  // namespace hilq::qat
