// Host scoring of candidates with the boards' arithmetic: a candidate's quant config is packed
// into one model file (weights quantized per channel with the least-squared-error clipping of the
// PTQ baseline, activations per token at run time), and that file is loaded by the runtime and
// run on the same integer kernels the agents use; the metric is never a float simulation. The
// same file is what the boards measure and what the search exports.
//
//   perplexity  (task lm) exp(mean NLL) over evenly spaced windows of max_seq tokens of a split,
//               each predicting its next max_seq tokens (the QAT engine's definition)
//   accuracy    (task cls) share of sentences whose most probable class is their label
//   output KL   mean over predicted positions (sentences) of KL(float || quantized) of the
//               next-token (class) distribution; the float model's is computed once per split
//   splits      calibration (a slice of train: sensitivity), validation (constraints; the
//               sentiment dev split for cls), test (only the final front)
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "db/search_store.h"
#include "model/architecture.h"
#include "model/quant_spec.h"

namespace hilq::runtime {
class Model;
}

namespace hilq::search {

// Version of the scoring arithmetic, part of the score and sensitivity cache keys (db migration
// 6): a cached value computed by another version is a miss. 1: log-softmax with glibc's double
// exp; 2: exp_poly in 16 double lanes (log_softmax.h), and the KL's weights exp(reference
// log-probability) rounded to float; both move scores in their last bits; 3: the runtime's
// attention softmax through exp_poly with 16 lane sums (runtime/attention_ops.h).
constexpr int kScorerVersion = 3;

struct ScorerOptions {
  std::string task = "lm";  // lm (causal LM, perplexity) | cls (classifier, accuracy)
  std::string model_path;   // the float model (hil-train checkpoint) of the task
  std::string data_dir;     // the LM corpus (qat/data.h)
  std::string cache_dir;    // packed candidate files, by model and config hash
  int threads = 2;          // windows scored in parallel, one kernel thread each
  // LM windows per split; cls: calibration takes 16 train sentences per window, validation and
  // test every sentence of dev and test.
  int calibration_windows = 8;
  int validation_windows = 64;
  int test_windows = 256;
  int max_docs_per_split = 0;  // > 0: only the first documents (cls: sentences) of each split
};

// Token windows of one split: count() windows of seq + 1 tokens each.
struct TokenWindows {
  std::string split;
  int seq = 0;
  std::vector<int32_t> tokens;
  int count() const { return seq ? static_cast<int>(tokens.size()) / (seq + 1) : 0; }
};
// `count` windows spread evenly over the stream (fewer when it is short). Throws DataError when
// the stream holds no window.
TokenWindows pick_windows(const std::vector<int32_t>& stream, int seq, int count,
                          const std::string& split);

// Seconds of the phases of an LM scoring, summed over its threads: the forward passes (prefill
// with every token's logits, the head included), the log-softmax with the NLL, the output KL.
struct LmPhases {
  double forward = 0, log_softmax = 0, kl = 0;
};

struct LmScore {
  double perplexity = 0;
  double output_kl = 0;  // 0 without a reference
  LmPhases phases;
};
// Scores a loaded model on the windows, `threads` windows at a time; the sum runs in window order
// so the value does not depend on threads. With reference_logprobs ([windows * seq][vocab], the
// float model's), also the output KL; with out_logprobs, writes this model's. reference_probs
// (optional, same shape) holds float(std::exp(double(reference_logprobs[i]))): the KL's weights
// computed once per split instead of once per scoring; the value is the same bit for bit.
LmScore score_lm(const runtime::Model& model, const TokenWindows& windows, int threads,
                 const std::vector<float>* reference_logprobs = nullptr,
                 std::vector<float>* out_logprobs = nullptr,
                 const std::vector<float>* reference_probs = nullptr);
// reference_probs of score_lm for a reference.
std::vector<float> reference_probabilities(const std::vector<float>& reference_logprobs);

// Labelled sentences of one split (task cls), each at most the model's max_seq tokens.
struct Sentences {
  std::string split;
  std::vector<std::vector<int32_t>> ids;
  std::vector<int> labels;
  int count() const { return static_cast<int>(ids.size()); }
};

struct ClsScore {
  double accuracy = 0;
  double output_kl = 0;  // 0 without a reference
};
// Classifies every sentence, `threads` at a time; with reference_probs ([sentences][classes], the
// float model's), also the output KL; with out_probs, writes this model's class probabilities.
ClsScore score_cls(const runtime::Model& model, const Sentences& sentences, int threads,
                   const std::vector<float>* reference_probs = nullptr,
                   std::vector<float>* out_probs = nullptr);

// A candidate's packed model file.
struct PackedCandidate {
  std::string path;
  std::string sha256;        // of the whole file: the artifact agents fetch
  int64_t memory_bytes = 0;  // weights as the runtime holds them (codes + scales + floats)
  // Empty for the PTQ packing of the config; "squat-<steps>-<seed>" for a QAT'd one. Scores are
  // cached per (config, variant): the same config trained is another model.
  std::string variant;
};

// Squat QAT of one candidate config (teacher: the float model; full Squat loss as the QAT
// engine defines it; weight steps start from the PTQ clipping).
struct QatOptions {
  int steps = 300;
  uint64_t seed = 7;
  int calib_batches = 8;
  int log_every = 50;  // a progress line ("[qat] step k/N loss ... eta ...") every N steps; 0: none
  const std::atomic<bool>* stop = nullptr;  // set: training stops at its next step, nothing kept
};

struct TrainedCandidate {
  PackedCandidate packed;
  // LM only, when trained in this call (not found in the cache): the QAT engine's own perplexity
  // of the trained model on the validation windows, to check the packed file against.
  std::optional<double> engine_validation;
  double seconds = 0;    // training and export (0 when cached)
  bool stopped = false;  // QatOptions::stop ended the training: no file, packed is empty
};

struct CandidateScore {
  double metric = 0;
  double output_kl = 0;
  double seconds = 0;   // of the scoring itself (0 when cached)
  bool cached = false;  // from the scores table
  // Parts of `seconds`: packing the candidate file (score_transient only) and loading it; the
  // rest is the forward passes and the metric.
  double pack_seconds = 0, load_seconds = 0;
  LmPhases phases;  // task lm, scored now: where the rest went
};

class HostScorer {
 public:
  // Loads the float model and the splits; throws ModelError / DataError / ConfigError naming the
  // file. store may be null (no cache).
  HostScorer(const ScorerOptions& options, db::SearchStore* store);
  ~HostScorer();
  HostScorer(const HostScorer&) = delete;
  HostScorer& operator=(const HostScorer&) = delete;

  const std::string& model_hash() const { return model_hash_; }
  const model::Architecture& arch() const;
  int n_layers() const;
  // "perplexity" (lm, lower is better) or "accuracy" (cls, higher is better).
  const std::string& metric_name() const { return metric_; }
  bool higher_is_better() const { return metric_ == "accuracy"; }
  int windows(const std::string& split) const;
  // The LM windows of a split (task lm); throws ConfigError for a split it does not have.
  const TokenWindows& lm_windows(const std::string& split) const { return windows_of(split); }

  // The float model: its metric on a split, its weight bytes.
  double float_metric(const std::string& split);
  int64_t float_bytes() const;
  int64_t fp16_bytes() const;  // the same weights held as fp16 (the FP16 baseline)
  const std::string& model_path() const { return options_.model_path; }

  // Packs (or finds in the cache folder) the candidate's model file.
  PackedCandidate pack(const model::QuantSpec& spec);
  // The metric (and output KL) of a packed candidate on a split, from the score cache when the
  // same (model, config and variant, split, windows) was scored before.
  CandidateScore score(const model::QuantSpec& spec, const PackedCandidate& packed,
                       const std::string& split);

  // Trains the config with Squat QAT and packs it with its learned steps (or finds it in the
  // cache folder under its config hash and variant). Throws what the QAT engine throws.
  TrainedCandidate pack_trained(const model::QuantSpec& spec, const QatOptions& options);

  // A config scored once and not kept (sensitivity): packed to a temporary file, scored on the
  // split with no score cache, the file removed.
  CandidateScore score_transient(const model::QuantSpec& spec, const std::string& split);

  // Scorings run and cache hits so far.
  int64_t scorings() const { return scorings_; }
  int64_t cache_hits() const { return cache_hits_; }
  double scoring_seconds() const { return scoring_seconds_; }

 private:
  struct State;
  const TokenWindows& windows_of(const std::string& split) const;
  // Scores a loaded model on a split: (metric, output KL against the float model).
  // metric, output_kl and (lm) phases of a CandidateScore.
  CandidateScore evaluate(const runtime::Model& model, const std::string& split);
  const std::vector<float>& reference(const std::string& split);

  void load_sentences();

  ScorerOptions options_;
  db::SearchStore* store_;
  std::unique_ptr<State> state_;
  std::string model_hash_, metric_ = "perplexity";
  int64_t scorings_ = 0, cache_hits_ = 0;
  double scoring_seconds_ = 0;
};

}  // namespace hilq::search
