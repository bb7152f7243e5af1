// Host scoring with the runtime's integer kernels (see scorer.h).
#include "search/scorer.h"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <thread>

#include "base/error.h"
#include "kernels/mkmp.h"
#include "model/sha256.h"
#include "qat/checkpoint.h"
#include "qat/data.h"
#include "qat/experiment.h"
#include "qat/export.h"
#include "qat/quant.h"
#include "qat/train.h"
#include "runtime/model.h"
#include "runtime/session.h"
#include "search/log_softmax.h"

namespace hilq::search {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Largest reference (positions x vocab) whose probabilities HostScorer keeps: the default
// calibration and validation splits of a 4096-token, 128-position model, not the test split.
constexpr size_t kMaxReferenceProbs = size_t{64} * 128 * 4096;

// n zeros in *v, in transparent huge pages where the kernel gives them (THP "madvise" mode): the
// reference arrays are 134 MB each and the KL reads 32 KB of them per position, a TLB miss per
// 4 KB page otherwise (measured: the KL 1.4-1.7 us per token against 1.9-2.5).
void zeros_huge(std::vector<float>* v, size_t n) {
  v->clear();
  v->shrink_to_fit();
  v->reserve(n);  // large: its own mapping, untouched until the resize below
#if defined(MADV_HUGEPAGE)
  constexpr size_t kHuge = size_t{2} << 20;
  char* const data = reinterpret_cast<char*>(v->data());
  const size_t skip = (kHuge - reinterpret_cast<uintptr_t>(data) % kHuge) % kHuge;
  const size_t bytes = n * sizeof(float);
  if (bytes > skip + kHuge)  // a hint: errors are ignored
    madvise(data + skip, (bytes - skip) / kHuge * kHuge, MADV_HUGEPAGE);
#endif
  v->resize(n);
}

// Rows whose KL terms are summed side by side (LogSoftmaxOps::kl8).
constexpr int kRows = 8;

// p = exp(logprob) rounded to float: what the KL weighs each term with.
float reference_probability(float logprob) {
  return static_cast<float>(std::exp(static_cast<double>(logprob)));
}

// KL(ref || dst) terms of `rows` rows (at most kRows), each summed over the vocabulary in order:
// k[r] = sum_v p[v] (ref[v] - dst[v]) with p[v] = exp(ref[v]) (from `probs` when given). The rows'
// sums are independent chains run side by side, on the ops' SIMD path for a full group with
// probabilities (the same bits).
void kl_rows(const LogSoftmaxOps& ops, const float* const* ref, const float* const* probs,
             const float* const* dst, int rows, size_t vocab, double* k) {
  if (probs && rows == kRows) {
    ops.kl8(ref, probs, dst, static_cast<int>(vocab), k);
    return;
  }
  double acc[kRows] = {};
  if (probs) {
    for (size_t v = 0; v < vocab; ++v)
      for (int r = 0; r < rows; ++r)
        acc[r] += static_cast<double>(probs[r][v]) * (ref[r][v] - dst[r][v]);
  } else {
    for (size_t v = 0; v < vocab; ++v)
      for (int r = 0; r < rows; ++r)
        acc[r] += static_cast<double>(reference_probability(ref[r][v])) * (ref[r][v] - dst[r][v]);
  }
  for (int r = 0; r < rows; ++r) k[r] = acc[r];
}

// Documents of a split joined as the QAT engine joins them: each followed by <|endoftext|>.
std::vector<int32_t> join_docs(const std::vector<std::string>& docs,
                               const model::BpeTokenizer& tok) {
  const int32_t eot = tok.special_id("<|endoftext|>");
  std::vector<int32_t> out;
  for (const auto& doc : docs) {
    const auto ids = tok.encode(doc);
    out.insert(out.end(), ids.begin(), ids.end());
    out.push_back(eot);
  }
  return out;
}

// `count` documents spread evenly over `docs` (all when fewer).
std::vector<std::string> spread_docs(const std::vector<std::string>& docs, size_t count) {
  if (docs.size() <= count) return docs;
  std::vector<std::string> out;
  for (size_t i = 0; i < count; ++i) out.push_back(docs[i * docs.size() / count]);
  return out;
}

}  // namespace

TokenWindows pick_windows(const std::vector<int32_t>& stream, int seq, int count,
                          const std::string& split) {
  const int64_t available = (static_cast<int64_t>(stream.size()) - 1) / seq;
  if (available <= 0 || count <= 0)
    throw DataError("the " + split + " split holds " + std::to_string(stream.size()) +
                    " tokens: not one window of " + std::to_string(seq + 1));
  const int64_t n = std::min<int64_t>(available, count);
  TokenWindows w{split, seq, {}};
  for (int64_t i = 0; i < n; ++i) {
    const int64_t start = (i * available / n) * seq;
    w.tokens.insert(w.tokens.end(), stream.begin() + start, stream.begin() + start + seq + 1);
  }
  return w;
}

LmScore score_lm(const runtime::Model& model, const TokenWindows& windows, int threads,
                 const std::vector<float>* reference_logprobs, std::vector<float>* out_logprobs,
                 const std::vector<float>* reference_probs) {
  const int n = windows.count(), seq = windows.seq, vocab = model.arch().vocab_size;
  const auto row = static_cast<size_t>(vocab);
  const size_t positions = static_cast<size_t>(n) * static_cast<size_t>(seq);
  if (reference_logprobs && reference_logprobs->size() != positions * row)
    throw Error(ErrorCategory::kRuntime,
                "score_lm: the reference log-probabilities do not match the windows");
  if (reference_probs && (!reference_logprobs || reference_probs->size() != positions * row))
    throw Error(ErrorCategory::kRuntime,
                "score_lm: the reference probabilities do not match the log-probabilities");
  if (out_logprobs) zeros_huge(out_logprobs, positions * row);
  std::vector<double> nll(static_cast<size_t>(n), 0.0), kl(static_cast<size_t>(n), 0.0);
  const int workers = std::max(1, std::min(threads, n));
  std::vector<LmPhases> phases(static_cast<size_t>(workers));
  auto work = [&](int first) {
    LmPhases& ph = phases[static_cast<size_t>(first)];
    auto mark = Clock::now();
    auto lap = [&mark](double* into) {  // adds the time since the last lap
      const auto now = Clock::now();
      *into += std::chrono::duration<double>(now - mark).count();
      mark = now;
    };
    kernels::ContextOptions co;
    co.threads = 1;
    kernels::Context ctx(co);
    runtime::SessionOptions so;
    so.max_context = seq;
    so.max_chunk = seq;
    so.all_logits = true;
    runtime::Session session(model, ctx, so);
    const LogSoftmaxOps& lsm = log_softmax_ops(static_cast<int>(ctx.isa()));
    std::vector<float> lp(out_logprobs ? 0 : kRows * row);
    for (int w = first; w < n; w += workers) {
      const int32_t* ids = windows.tokens.data() + static_cast<size_t>(w) * (seq + 1);
      session.reset();
      mark = Clock::now();
      const auto logits = session.prefill({ids, static_cast<size_t>(seq)}, true);
      lap(&ph.forward);
      double window_nll = 0, window_kl = 0;
      for (int t0 = 0; t0 < seq; t0 += kRows) {
        const int rows = std::min(kRows, seq - t0);
        const float* ref[kRows];
        const float* probs[kRows];
        const float* dst[kRows];
        for (int r = 0; r < rows; ++r) {
          const int t = t0 + r;
          const size_t pos = static_cast<size_t>(w) * seq + static_cast<size_t>(t);
          float* out = out_logprobs ? out_logprobs->data() + pos * row
                                    : lp.data() + static_cast<size_t>(r) * row;
          ref[r] = reference_logprobs ? reference_logprobs->data() + pos * row : nullptr;
          probs[r] = reference_probs ? reference_probs->data() + pos * row : nullptr;
          // The KL reads the row's reference next: it comes from memory during the exp.
          const float* next[2] = {ref[r], probs[r]};
          log_softmax(lsm, logits.data() + static_cast<size_t>(t) * row, vocab, out,
                      reference_logprobs ? next : nullptr);
          window_nll -= out[ids[t + 1]];
          dst[r] = out;
        }
        lap(&ph.log_softmax);
        if (reference_logprobs) {
          double k[kRows];
          kl_rows(lsm, ref, reference_probs ? probs : nullptr, dst, rows, row, k);
          for (int r = 0; r < rows; ++r) window_kl += k[r];
          lap(&ph.kl);
        }
      }
      nll[static_cast<size_t>(w)] = window_nll;
      kl[static_cast<size_t>(w)] = window_kl;
    }
  };
  std::vector<std::thread> pool;
  for (int i = 1; i < workers; ++i) pool.emplace_back(work, i);
  work(0);
  for (auto& t : pool) t.join();
  double nll_sum = 0, kl_sum = 0;
  for (int w = 0; w < n; ++w) {
    nll_sum += nll[static_cast<size_t>(w)];
    kl_sum += kl[static_cast<size_t>(w)];
  }
  const auto count = static_cast<double>(positions);
  LmScore out{std::exp(nll_sum / count), reference_logprobs ? kl_sum / count : 0.0, {}};
  for (const LmPhases& p : phases) {
    out.phases.forward += p.forward;
    out.phases.log_softmax += p.log_softmax;
    out.phases.kl += p.kl;
  }
  return out;
}

std::vector<float> reference_probabilities(const std::vector<float>& reference_logprobs) {
  std::vector<float> p;
  zeros_huge(&p, reference_logprobs.size());
  for (size_t i = 0; i < p.size(); ++i) p[i] = reference_probability(reference_logprobs[i]);
  return p;
}

ClsScore score_cls(const runtime::Model& model, const Sentences& sentences, int threads,
                   const std::vector<float>* reference_probs, std::vector<float>* out_probs) {
  const int n = sentences.count(), classes = model.arch().n_classes;
  const auto row = static_cast<size_t>(classes);
  if (n == 0) throw DataError("the " + sentences.split + " split holds no sentence");
  if (reference_probs && reference_probs->size() != static_cast<size_t>(n) * row)
    throw Error(ErrorCategory::kRuntime, "score_cls: the reference probabilities do not match");
  if (out_probs) out_probs->assign(static_cast<size_t>(n) * row, 0);
  std::vector<int> correct(static_cast<size_t>(n), 0);
  std::vector<double> kl(static_cast<size_t>(n), 0.0);
  const int workers = std::max(1, std::min(threads, n));
  auto work = [&](int first) {
    kernels::ContextOptions co;
    co.threads = 1;
    kernels::Context ctx(co);
    runtime::Session session(model, ctx);
    for (int i = first; i < n; i += workers) {
      const auto& ids = sentences.ids[static_cast<size_t>(i)];
      const auto probs = session.classify({ids.data(), ids.size()});
      int best = 0;
      for (int k = 1; k < classes; ++k)
        if (probs[static_cast<size_t>(k)] > probs[static_cast<size_t>(best)]) best = k;
      correct[static_cast<size_t>(i)] = best == sentences.labels[static_cast<size_t>(i)];
      if (out_probs)
        std::copy(probs.begin(), probs.end(), out_probs->begin() + static_cast<ptrdiff_t>(i * row));
      if (reference_probs) {
        double k = 0;
        for (size_t c = 0; c < row; ++c) {
          const double p = (*reference_probs)[static_cast<size_t>(i) * row + c];
          if (p > 0) k += p * (std::log(p) - std::log(std::max<double>(probs[c], 1e-30)));
        }
        kl[static_cast<size_t>(i)] = k;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int i = 1; i < workers; ++i) pool.emplace_back(work, i);
  work(0);
  for (auto& t : pool) t.join();
  double right = 0, kl_sum = 0;
  for (int i = 0; i < n; ++i) {
    right += correct[static_cast<size_t>(i)];
    kl_sum += kl[static_cast<size_t>(i)];
  }
  return {right / n, reference_probs ? kl_sum / n : 0.0};
}

struct HostScorer::State {
  qat::LoadedCheckpoint checkpoint;
  std::unique_ptr<runtime::Model> float_model;
  std::map<std::string, TokenWindows> windows;
  std::map<std::string, Sentences> sentences;
  std::map<std::string, std::vector<float>> reference;
  // lm: exp of the reference per split, for splits of at most kMaxReferenceProbs positions x
  // vocab (4 bytes each: 134 MB for 64 windows of 128 tokens over 4096 tokens).
  std::map<std::string, std::vector<float>> reference_probs;
  std::map<std::string, double> float_metric;
  std::unique_ptr<qat::TaskData> qat_data;  // training data of pack_trained(), loaded once
  // PTQ steps of the float model's units by (unit, bits, group): a unit's clipping is searched
  // once, whatever configs it appears in.
  qat::QuantState::WeightStepCache ptq_steps;
};

HostScorer::HostScorer(const ScorerOptions& options, db::SearchStore* store)
    : options_(options), store_(store), state_(std::make_unique<State>()) {
  if (!fs::exists(options.model_path))
    throw ModelError("--model " + options.model_path + ": no such file");
  model_hash_ = model::sha256_file(options.model_path);
  state_->checkpoint = qat::load_checkpoint(options.model_path);
  const auto& arch = state_->checkpoint.model->config();
  const bool cls = options.task == "cls";
  if (!cls && options.task != "lm")
    throw UsageError("--task " + options.task + ": the tasks are lm and cls");
  if (cls != (arch.kind == model::ModelKind::kClassifier))
    throw UsageError("--task " + options.task + ": --model " + options.model_path + " is a " +
                     (cls ? "causal LM (use --task lm)" : "classifier (use --task cls)"));
  runtime::LoadOptions lo;
  lo.weights = runtime::WeightsMode::kFp32;
  state_->float_model =
      std::make_unique<runtime::Model>(runtime::Model::load(options.model_path, lo));
  if (cls) {
    metric_ = "accuracy";
    load_sentences();
    return;
  }
  const qat::LmCorpus corpus = qat::load_lm_corpus(options.data_dir, options.max_docs_per_split);
  const auto& tok = state_->checkpoint.tokenizer;
  const int seq = arch.max_seq;
  state_->windows["calibration"] = pick_windows(join_docs(spread_docs(corpus.train, 12), tok), seq,
                                                options.calibration_windows, "calibration");
  state_->windows["validation"] = pick_windows(join_docs(corpus.validation, tok), seq,
                                               options.validation_windows, "validation");
  state_->windows["test"] =
      pick_windows(join_docs(corpus.test, tok), seq, options.test_windows, "test");
}

void HostScorer::load_sentences() {
  const qat::SentimentSplits s = qat::load_sentiment(options_.data_dir);
  const auto& tok = state_->checkpoint.tokenizer;
  const int32_t eot = tok.special_id("<|endoftext|>");
  const int max_seq = arch().max_seq;
  auto take = [&](const std::vector<qat::Sentence>& rows, size_t count, const std::string& split) {
    Sentences out{split, {}, {}};
    const size_t n = std::min(rows.size(), count);
    for (size_t i = 0; i < n; ++i) {
      const qat::Sentence& r = rows[i * rows.size() / n];  // spread over the split
      auto ids = tok.encode(r.text);
      if (ids.empty()) ids.push_back(eot);  // as the QAT engine encodes an empty text
      if (static_cast<int>(ids.size()) > max_seq) ids.resize(static_cast<size_t>(max_seq));
      out.ids.push_back(std::move(ids));
      out.labels.push_back(r.label);
    }
    if (out.ids.empty()) throw DataError("the sentiment " + split + " split holds no sentence");
    return out;
  };
  const size_t cap = options_.max_docs_per_split > 0
                         ? static_cast<size_t>(options_.max_docs_per_split)
                         : std::numeric_limits<size_t>::max();
  state_->sentences["calibration"] =
      take(s.train, std::min(cap, static_cast<size_t>(options_.calibration_windows) * 16),
           "calibration");
  state_->sentences["validation"] = take(s.dev, cap, "validation");
  state_->sentences["test"] = take(s.test, cap, "test");
}

CandidateScore HostScorer::evaluate(const runtime::Model& model, const std::string& split) {
  CandidateScore out;
  if (higher_is_better()) {
    const auto it = state_->sentences.find(split);
    if (it == state_->sentences.end()) throw ConfigError("no split named '" + split + "'");
    const std::vector<float>& ref = reference(split);
    const ClsScore s = score_cls(model, it->second, options_.threads, &ref);
    out.metric = s.accuracy;
    out.output_kl = s.output_kl;
    return out;
  }
  const std::vector<float>& ref = reference(split);
  const auto probs = state_->reference_probs.find(split);
  const LmScore s = score_lm(model, windows_of(split), options_.threads, &ref, nullptr,
                             probs == state_->reference_probs.end() ? nullptr : &probs->second);
  out.metric = s.perplexity;
  out.output_kl = s.output_kl;
  out.phases = s.phases;
  return out;
}

HostScorer::~HostScorer() = default;

const model::Architecture& HostScorer::arch() const { return state_->checkpoint.model->config(); }

int HostScorer::n_layers() const { return arch().n_layers; }

int HostScorer::windows(const std::string& split) const {
  if (higher_is_better()) {
    const auto it = state_->sentences.find(split);
    if (it == state_->sentences.end()) throw ConfigError("no split named '" + split + "'");
    return it->second.count();
  }
  return windows_of(split).count();
}

const TokenWindows& HostScorer::windows_of(const std::string& split) const {
  const auto it = state_->windows.find(split);
  if (it == state_->windows.end()) throw ConfigError("no split named '" + split + "'");
  return it->second;
}

const std::vector<float>& HostScorer::reference(const std::string& split) {
  auto it = state_->reference.find(split);
  if (it != state_->reference.end()) return it->second;
  std::vector<float> lp;
  if (higher_is_better()) {
    const auto s = state_->sentences.find(split);
    if (s == state_->sentences.end()) throw ConfigError("no split named '" + split + "'");
    state_->float_metric[split] =
        score_cls(*state_->float_model, s->second, options_.threads, nullptr, &lp).accuracy;
  } else {
    state_->float_metric[split] =
        score_lm(*state_->float_model, windows_of(split), options_.threads, nullptr, &lp)
            .perplexity;
    if (lp.size() <= kMaxReferenceProbs)
      state_->reference_probs[split] = reference_probabilities(lp);
  }
  return state_->reference[split] = std::move(lp);
}

double HostScorer::float_metric(const std::string& split) {
  reference(split);
  return state_->float_metric.at(split);
}

int64_t HostScorer::float_bytes() const { return state_->float_model->weight_bytes(); }

int64_t HostScorer::fp16_bytes() const {
  runtime::LoadOptions lo;
  lo.weights = runtime::WeightsMode::kFp16;
  return runtime::Model::load(options_.model_path, lo).weight_bytes();
}

PackedCandidate HostScorer::pack(const model::QuantSpec& spec) {
  spec.validate(n_layers(), "candidate");
  const fs::path dir = fs::path(options_.cache_dir) / model_hash_.substr(0, 16);
  const fs::path path = dir / (spec.hash() + ".safetensors");
  if (!fs::exists(path)) {
    fs::create_directories(dir);
    qat::QuantState quant(spec, n_layers(), arch().kind);
    quant.init_weight_steps(state_->checkpoint.model->unit_weights(), qat::QuantState::Init::kPtq,
                            &state_->ptq_steps);
    const fs::path partial = path.string() + ".partial";
    qat::export_packed_model(partial.string(), *state_->checkpoint.model, quant,
                             state_->checkpoint.tokenizer);
    fs::rename(partial, path);  // a crash never leaves a half-written candidate under its name
  }
  PackedCandidate out;
  out.path = path.string();
  out.sha256 = model::sha256_file(out.path);
  out.memory_bytes = runtime::Model::load(out.path).weight_bytes();
  return out;
}

TrainedCandidate HostScorer::pack_trained(const model::QuantSpec& spec, const QatOptions& o) {
  spec.validate(n_layers(), "candidate");
  const std::string variant = "squat-" + std::to_string(o.steps) + "-" + std::to_string(o.seed);
  const fs::path dir = fs::path(options_.cache_dir) / model_hash_.substr(0, 16);
  const fs::path path = dir / (spec.hash() + "." + variant + ".safetensors");
  TrainedCandidate out;
  if (!fs::exists(path)) {
    const auto t0 = Clock::now();
    fs::create_directories(dir);
    const bool cls = higher_is_better();
    const qat::Task task = cls ? qat::Task::kCls : qat::Task::kLm;
    const auto& tok = state_->checkpoint.tokenizer;
    if (!state_->qat_data) {
      auto data = std::make_unique<qat::TaskData>();
      if (cls)
        qat::tokenize_cls(qat::load_sentiment(options_.data_dir), tok, data.get());
      else
        *data = qat::tokenize_lm(
            qat::load_lm_corpus(options_.data_dir, options_.max_docs_per_split), tok);
      state_->qat_data = std::move(data);
    }
    const qat::Transformer& teacher = *state_->checkpoint.model;
    qat::Transformer student(teacher.config(), 0);
    student.copy_from(teacher);
    qat::QuantState quant(spec, n_layers(), arch().kind);
    qat::TrainConfig cfg = qat::default_qat_config(task);
    cfg.steps = o.steps;
    cfg.seed = o.seed;
    cfg.log_every = o.log_every;
    cfg.label = "qat";
    cfg.warmup = std::min(cfg.warmup, std::max(1, o.steps / 10));
    // LM: the window; classifier: the longest sentence kept. Neither may pass the model's max_seq.
    cfg.seq = std::min(cfg.seq, arch().max_seq);
    qat::calibrate(task, student, &quant, *state_->qat_data, cfg, o.calib_batches,
                   qat::QuantState::Init::kPtq);
    cfg.stop = o.stop;
    if (qat::train(task, student, &quant, &teacher, qat::SquatLossConfig{}, *state_->qat_data, cfg,
                   tok)
            .stopped) {
      out.stopped = true;
      return out;
    }
    const fs::path partial = path.string() + ".partial";
    qat::export_packed_model(partial.string(), student, quant, tok);
    fs::rename(partial, path);
    if (!cls) {
      // The engine's perplexity on exactly the scorer's validation windows (each seq + 1 tokens
      // predicting its last seq).
      const TokenWindows& w = windows_of("validation");
      double nll = 0;
      for (int i = 0; i < w.count(); ++i) {
        const auto first = w.tokens.begin() + static_cast<std::ptrdiff_t>(i) * (w.seq + 1);
        const std::vector<int32_t> window(first, first + w.seq + 1);
        nll += std::log(qat::eval_perplexity(student, &quant, window, w.seq, 1)) * w.seq;
      }
      out.engine_validation = std::exp(nll / (static_cast<double>(w.count()) * w.seq));
    }
    out.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  out.packed.path = path.string();
  out.packed.sha256 = model::sha256_file(out.packed.path);
  out.packed.memory_bytes = runtime::Model::load(out.packed.path).weight_bytes();
  out.packed.variant = variant;
  return out;
}

CandidateScore HostScorer::score_transient(const model::QuantSpec& spec, const std::string& split) {
  spec.validate(n_layers(), "sensitivity config");
  const fs::path dir = fs::path(options_.cache_dir) / model_hash_.substr(0, 16);
  fs::create_directories(dir);
  const fs::path path = dir / (spec.hash() + ".transient");
  reference(split);
  const auto t0 = Clock::now();
  qat::QuantState quant(spec, n_layers(), arch().kind);
  quant.init_weight_steps(state_->checkpoint.model->unit_weights(), qat::QuantState::Init::kPtq,
                          &state_->ptq_steps);
  qat::export_packed_model(path.string(), *state_->checkpoint.model, quant,
                           state_->checkpoint.tokenizer);
  const auto t_packed = Clock::now();
  auto t_loaded = t_packed;
  CandidateScore s;
  try {
    runtime::LoadOptions lo;
    lo.verify_hash = false;  // written just now by this process
    const runtime::Model model = runtime::Model::load(path.string(), lo);
    t_loaded = Clock::now();
    s = evaluate(model, split);
  } catch (...) {
    fs::remove(path);
    throw;
  }
  fs::remove(path);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  ++scorings_;
  scoring_seconds_ += seconds;
  s.seconds = seconds;
  s.pack_seconds = std::chrono::duration<double>(t_packed - t0).count();
  s.load_seconds = std::chrono::duration<double>(t_loaded - t_packed).count();
  return s;
}

CandidateScore HostScorer::score(const model::QuantSpec& spec, const PackedCandidate& packed,
                                 const std::string& split) {
  const int count = windows(split);
  const std::string config_hash =
      packed.variant.empty() ? spec.hash() : spec.hash() + "+" + packed.variant;
  if (store_) {
    if (auto hit = store_->score(model_hash_, config_hash, split, count, metric_, kScorerVersion)) {
      ++cache_hits_;
      CandidateScore c;
      c.metric = hit->value;
      c.output_kl = hit->output_kl.value_or(0.0);
      c.cached = true;
      return c;
    }
  }
  reference(split);
  const auto t0 = Clock::now();
  const runtime::Model model = runtime::Model::load(packed.path);
  if (model.quant_config() != spec.to_json())
    throw ModelError(packed.path + " holds another quant config than candidate " + config_hash);
  const double load_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  CandidateScore s = evaluate(model, split);
  s.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  s.load_seconds = load_seconds;
  ++scorings_;
  scoring_seconds_ += s.seconds;
  if (store_)
    store_->put_score({model_hash_, config_hash, split, count, metric_, s.metric, s.output_kl,
                       s.seconds, kScorerVersion});
  return s;
}

}  // namespace hilq::search
