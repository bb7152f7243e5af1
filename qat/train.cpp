// Training and evaluation loops for the three tasks, FP or QAT, with optional distillation.
#include "qat/train.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <numeric>

#include "qat/checkpoint.h"
#include "qat/optim.h"

namespace hilq::qat {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t batch_hash(uint64_t seed, int64_t step, int64_t b) {
  return splitmix64(
      splitmix64(seed ^ 0x5EEDull) ^
      splitmix64(static_cast<uint64_t>(step) * 1000003ull + static_cast<uint64_t>(b)));
}

bool ends_with(const std::string& name, const std::string& s) {
  return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
}

bool is_quant_step(const std::string& name) {
  return ends_with(name, "_step") || ends_with(name, "step_hi") || ends_with(name, "step_lo");
}

bool decays(const std::string& name) {
  return !(ends_with(name, "norm.weight") || ends_with(name, ".bias") || is_quant_step(name));
}

// Masked-token corruption of an LM window: fraction f of positions become targets; of those 80%
// show <mask>, 10% a random ordinary token, 10% themselves.
void mlm_corrupt(Batch* b, std::vector<int32_t>* targets, const TaskData& d, float f, uint64_t seed,
                 int64_t step) {
  const int32_t ordinary = std::min({d.mask_id, d.pad_id, d.eot_id});
  targets->assign(b->ids.size(), -1);
  for (size_t i = 0; i < b->ids.size(); ++i) {
    const uint64_t h = batch_hash(seed ^ 0x4D4C4Dull, step, static_cast<int64_t>(i));
    if (unit_float(h) >= f) continue;
    (*targets)[i] = b->ids[i];
    const float r = unit_float(splitmix64(h));
    if (r < 0.8f) {
      b->ids[i] = d.mask_id;
    } else if (r < 0.9f) {
      b->ids[i] = static_cast<int32_t>(splitmix64(h + 1) % static_cast<uint64_t>(ordinary));
    }
  }
}

std::vector<int> cls_rows(size_t n, int batch, uint64_t seed, int64_t step) {
  std::vector<int> rows;
  rows.reserve(static_cast<size_t>(batch));
  for (int b = 0; b < batch; ++b) rows.push_back(static_cast<int>(batch_hash(seed, step, b) % n));
  return rows;
}

struct StepOutput {
  LossParts parts;
  int64_t tokens = 0;
};

// Builds step `step`'s batch and returns the loss graph.
StepOutput step_loss(Task task, const Transformer& model, QuantState* quant,
                     const Transformer* teacher, const SquatLossConfig& loss, const TaskData& data,
                     const TrainConfig& cfg, int64_t step) {
  Batch b;
  std::vector<int32_t> targets;
  if (task == Task::kCls) {
    b = cls_batch(data.cls_train_x, data.cls_train_y,
                  cls_rows(data.cls_train_x.size(), cfg.batch, cfg.seed, step), cfg.seq,
                  data.pad_id, &targets);
  } else {
    b = lm_batch(data.lm_train, cfg.batch, cfg.seq, cfg.seed, step, &targets);
    if (task == Task::kMlm) mlm_corrupt(&b, &targets, data, cfg.mlm_fraction, cfg.seed, step);
  }
  const ModelConfig& mc = model.config();
  const AttnShape shape{b.batch, b.seq, mc.n_heads, mc.head_dim()};
  const AttnMask mask{mc.kind == ModelKind::kCausalLm, b.lengths};
  ForwardOptions fo{quant, true, batch_hash(cfg.seed ^ 0xD0ull, step, 0)};
  ForwardResult fr = model.forward(b, fo);
  ForwardResult tr;
  Mat t_logits;
  std::vector<Mat> t_maps;
  if (teacher) {
    NoGrad ng;
    tr = teacher->forward(b, ForwardOptions{});
    for (const auto& a : tr.attn) t_maps.push_back(a->value);
  }
  Var logits;
  if (task == Task::kCls) {
    logits = model.class_logits(fr, b);
    if (teacher) {
      NoGrad ng;
      t_logits = teacher->class_logits(tr, b)->value;
    }
  } else if (task == Task::kMlm) {
    std::vector<int32_t> rows, compact;
    for (size_t i = 0; i < targets.size(); ++i) {
      if (targets[i] >= 0) {
        rows.push_back(static_cast<int32_t>(i));
        compact.push_back(targets[i]);
      }
    }
    logits = model.lm_logits(embedding(fr.hidden, rows), quant, {});
    targets = std::move(compact);
    if (teacher) {
      NoGrad ng;
      t_logits = teacher->lm_logits(embedding(tr.hidden, rows), nullptr, {})->value;
    }
  } else {
    logits = model.lm_logits(fr.hidden, quant, fr.last_mask);
    if (teacher) {
      NoGrad ng;
      t_logits = teacher->lm_logits(tr.hidden, nullptr, {})->value;
    }
  }
  StepOutput out;
  const bool on_float = entropy_on_float(loss.entropy_form);
  out.parts =
      squat_loss(loss, logits, targets, teacher ? &t_logits : nullptr, on_float ? fr.q_float : fr.q,
                 on_float ? fr.k_float : fr.k, fr.attn, teacher ? &t_maps : nullptr, shape, mask);
  out.tokens = static_cast<int64_t>(b.batch) * b.seq;
  return out;
}

std::string train_state_json(Task task, const TrainConfig& cfg) {
  nlohmann::json j = {
      {"task", task_name(task)}, {"steps", cfg.steps}, {"batch", cfg.batch},
      {"seq", cfg.seq},          {"lr", cfg.lr},       {"warmup", cfg.warmup},
      {"seed", cfg.seed},        {"clip", cfg.clip},   {"weight_decay", cfg.weight_decay}};
  if (cfg.sentence_text_folds >= 0)
    j["sentence_text"] = {{"folds", cfg.sentence_text_folds}, {"fold", cfg.sentence_text_fold}};
  // Only a non-default fraction is kept, so the default command still writes the same file.
  if (task == Task::kMlm && cfg.mlm_fraction != TrainConfig{}.mlm_fraction)
    j["mask_fraction"] = cfg.mlm_fraction;
  return j.dump();
}

void print_term_stats(const std::string& label, const std::vector<TermStat>& stats) {
  std::fprintf(stderr, "[%s] loss terms at the first step (grad norm of weight * term):\n",
               label.c_str());
  for (const auto& t : stats) {
    std::fprintf(stderr,
                 "[%s]   %-12s value %10.5f  weight %6.3f  weighted %10.5f  |grad| weights %.4e  "
                 "steps %.4e\n",
                 label.c_str(), t.name.c_str(), static_cast<double>(t.value),
                 static_cast<double>(t.weight), static_cast<double>(t.weight * t.value),
                 t.grad_norm_weights, t.grad_norm_steps);
  }
}

}  // namespace

std::vector<TermStat> diagnose_loss_terms(const LossParts& parts,
                                          const std::vector<std::pair<std::string, Var>>& params) {
  std::vector<TermStat> out;
  for (const auto& t : parts.terms) {
    backward(t.weight == 1.0f ? t.value : scale(t.value, t.weight));
    TermStat st{t.name, t.weight, t.value->scalar(), 0, 0};
    for (const auto& [name, v] : params) {
      if (v->grad.size() == 0) continue;
      (is_quant_step(name) ? st.grad_norm_steps : st.grad_norm_weights) +=
          v->grad.cast<double>().squaredNorm();
      v->grad.setZero();
    }
    st.grad_norm_weights = std::sqrt(st.grad_norm_weights);
    st.grad_norm_steps = std::sqrt(st.grad_norm_steps);
    out.push_back(st);
  }
  return out;
}

const char* task_name(Task t) { return t == Task::kLm ? "lm" : t == Task::kMlm ? "mlm" : "cls"; }

const std::vector<std::string>& hilq_specials() {
  static const std::vector<std::string> s{"<|endoftext|>", "<pad>", "<mask>"};
  return s;
}

TaskData tokenize_lm(const LmCorpus& corpus, const model::BpeTokenizer& tok) {
  TaskData d;
  d.eot_id = tok.special_id("<|endoftext|>");
  d.pad_id = tok.special_id("<pad>");
  d.mask_id = tok.special_id("<mask>");
  auto join = [&](const std::vector<std::string>& docs, std::vector<int32_t>* out) {
    for (const auto& doc : docs) {
      const auto ids = tok.encode(doc);
      out->insert(out->end(), ids.begin(), ids.end());
      out->push_back(d.eot_id);
    }
  };
  join(corpus.train, &d.lm_train);
  join(corpus.validation, &d.lm_validation);
  join(corpus.test, &d.lm_test);
  return d;
}

void tokenize_cls(const SentimentSplits& s, const model::BpeTokenizer& tok, TaskData* d) {
  if (d->pad_id < 0) {
    d->eot_id = tok.special_id("<|endoftext|>");
    d->pad_id = tok.special_id("<pad>");
    d->mask_id = tok.special_id("<mask>");
  }
  auto enc = [&](const std::vector<Sentence>& rows, std::vector<std::vector<int32_t>>* x,
                 std::vector<int>* y) {
    for (const auto& r : rows) {
      x->push_back(tok.encode(r.text));
      if (x->back().empty()) x->back().push_back(d->eot_id);
      y->push_back(r.label);
    }
  };
  enc(s.train, &d->cls_train_x, &d->cls_train_y);
  enc(s.dev, &d->cls_dev_x, &d->cls_dev_y);
  enc(s.test, &d->cls_test_x, &d->cls_test_y);
}

Batch lm_batch(const std::vector<int32_t>& stream, int batch, int seq, uint64_t seed, int64_t step,
               std::vector<int32_t>* targets) {
  if (static_cast<int64_t>(stream.size()) < seq + 2) {
    throw DataError("token stream of " + std::to_string(stream.size()) +
                    " tokens is shorter than a window of " + std::to_string(seq + 1));
  }
  Batch b;
  b.batch = batch;
  b.seq = seq;
  targets->clear();
  const uint64_t span = stream.size() - static_cast<size_t>(seq) - 1;
  for (int i = 0; i < batch; ++i) {
    const size_t start = batch_hash(seed, step, i) % span;
    b.ids.insert(b.ids.end(), stream.begin() + static_cast<int64_t>(start),
                 stream.begin() + static_cast<int64_t>(start) + seq);
    targets->insert(targets->end(), stream.begin() + static_cast<int64_t>(start) + 1,
                    stream.begin() + static_cast<int64_t>(start) + seq + 1);
  }
  return b;
}

Batch cls_batch(const std::vector<std::vector<int32_t>>& x, const std::vector<int>& y,
                const std::vector<int>& rows, int max_seq, int32_t pad_id,
                std::vector<int32_t>* labels) {
  Batch b;
  b.batch = static_cast<int>(rows.size());
  for (int r : rows)
    b.seq = std::max(b.seq, std::min(max_seq, static_cast<int>(x[static_cast<size_t>(r)].size())));
  labels->clear();
  for (int r : rows) {
    const auto& s = x[static_cast<size_t>(r)];
    const int len = std::min(b.seq, static_cast<int>(s.size()));
    b.ids.insert(b.ids.end(), s.begin(), s.begin() + len);
    b.ids.insert(b.ids.end(), static_cast<size_t>(b.seq - len), pad_id);
    b.lengths.push_back(len);
    labels->push_back(y[static_cast<size_t>(r)]);
  }
  return b;
}

std::string format_duration(double seconds) {
  const auto s = static_cast<int64_t>(std::llround(seconds));
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  }
  return buf;
}

TrainStats train(Task task, Transformer& model, QuantState* quant, const Transformer* teacher,
                 const SquatLossConfig& loss, const TaskData& data, const TrainConfig& cfg,
                 const model::BpeTokenizer& tok) {
  if (task == Task::kCls && model.config().kind != ModelKind::kClassifier) {
    throw ConfigError("task cls needs a classifier model");
  }
  if (task == Task::kLm && model.config().kind != ModelKind::kCausalLm) {
    throw ConfigError("task lm needs a causal_lm model");
  }
  if (cfg.seq > model.config().max_seq) {
    throw ConfigError("seq " + std::to_string(cfg.seq) + " exceeds the model's max_seq " +
                      std::to_string(model.config().max_seq));
  }
  std::vector<std::pair<std::string, Var>> params = model.named_parameters();
  if (quant) {
    for (const auto& p : quant->named_parameters()) params.push_back(p);
  }
  std::vector<bool> decay;
  decay.reserve(params.size());
  for (const auto& [n, v] : params) decay.push_back(decays(n));
  AdamW opt(params, decay, AdamWConfig{0.9f, 0.95f, 1e-8f, cfg.weight_decay});
  int64_t start = 0;
  if (!cfg.resume_from.empty()) {
    LoadedCheckpoint ck = load_checkpoint(cfg.resume_from);
    model.copy_from(*ck.model);
    if (quant) {
      if (!ck.quant)
        throw DataError(cfg.resume_from + ": holds no quantizer steps to resume QAT from");
      const auto src = ck.quant->named_parameters();
      const auto dst = quant->named_parameters();
      if (src.size() != dst.size()) throw DataError(cfg.resume_from + ": quant config differs");
      for (size_t i = 0; i < dst.size(); ++i) dst[i].second->value = src[i].second->value;
    }
    restore_optimizer(ck.file, &opt);
    start = ck.step;
  }
  TrainStats st;
  const auto t0 = Clock::now();
  int64_t tokens = 0;
  double window_loss = 0;
  int window_n = 0;
  const int64_t end = cfg.stop_after > 0 ? std::min(cfg.stop_after, cfg.steps) : cfg.steps;
  for (int64_t step = start; step < end; ++step) {
    if (cfg.stop && cfg.stop->load()) {
      st.stopped = true;
      break;
    }
    StepOutput out = step_loss(task, model, quant, teacher, loss, data, cfg, step);
    if (st.term_names.empty()) {
      for (const auto& t : out.parts.terms) {
        st.term_names.push_back(t.name);
        st.term_weights.push_back(t.weight);
      }
    }
    if (step == start && cfg.diagnose_terms && out.parts.terms.size() > 1) {
      st.term_stats = diagnose_loss_terms(out.parts, params);
      if (cfg.log_every > 0) print_term_stats(cfg.label, st.term_stats);
    }
    std::vector<float> values;
    for (const auto& t : out.parts.terms) values.push_back(t.value->scalar());
    st.term_values.push_back(std::move(values));
    backward(out.parts.total);
    opt.clip_grad_norm(cfg.clip);
    opt.step(
        warmup_cosine_lr(static_cast<int>(step), cfg.steps, cfg.warmup, cfg.lr, cfg.min_lr_ratio));
    opt.zero_grad();
    if (quant) quant->clamp_steps();
    const float l = out.parts.total->scalar();
    if (!std::isfinite(l)) {
      throw QatError(cfg.label + ": loss became " + std::to_string(l) + " at step " +
                     std::to_string(step) + " (lower --lr or raise --warmup)");
    }
    st.losses.push_back(l);
    tokens += out.tokens;
    window_loss += l;
    ++window_n;
    ++st.steps;
    const bool last = step + 1 == end;
    if (cfg.log_every > 0 && ((step + 1) % cfg.log_every == 0 || last)) {
      const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      const double rate = static_cast<double>(tokens) / secs;
      const double eta = secs / static_cast<double>(st.steps) * static_cast<double>(end - step - 1);
      std::string terms;
      if (out.parts.terms.size() > 1) {
        for (const auto& t : out.parts.terms) {
          char buf[64];
          std::snprintf(buf, sizeof buf, " %s %.4f", t.name.c_str(),
                        static_cast<double>(t.value->scalar()));
          terms += buf;
        }
        terms = " (" + terms.substr(1) + ")";
      }
      std::fprintf(stderr, "[%s] step %lld/%d loss %.4f%s lr %.2e %.0f tok/s eta %s\n",
                   cfg.label.c_str(), static_cast<long long>(step) + 1, cfg.steps,
                   window_loss / window_n, terms.c_str(),
                   static_cast<double>(warmup_cosine_lr(static_cast<int>(step), cfg.steps,
                                                        cfg.warmup, cfg.lr, cfg.min_lr_ratio)),
                   rate, format_duration(eta).c_str());
      window_loss = 0;
      window_n = 0;
    }
    if (task == Task::kLm && cfg.eval_every > 0 && ((step + 1) % cfg.eval_every == 0 || last)) {
      const double ppl =
          eval_perplexity(model, quant, data.lm_validation, cfg.seq, 16, cfg.eval_windows);
      st.validation.emplace_back(step + 1, ppl);
      if (cfg.log_every > 0) {
        std::fprintf(stderr, "[%s] step %lld validation perplexity %.4f (%d windows)\n",
                     cfg.label.c_str(), static_cast<long long>(step) + 1, ppl, cfg.eval_windows);
      }
    }
    if (!cfg.checkpoint_path.empty() &&
        (last || (cfg.ckpt_every > 0 && (step + 1) % cfg.ckpt_every == 0))) {
      save_checkpoint(cfg.checkpoint_path, model, tok, quant, &opt, step + 1,
                      train_state_json(task, cfg));
    }
  }
  st.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  st.tokens_per_s = st.seconds > 0 ? static_cast<double>(tokens) / st.seconds : 0;
  const size_t n = st.losses.size(), k = std::min<size_t>(10, n);
  if (n) {
    st.first_loss =
        std::accumulate(st.losses.begin(), st.losses.begin() + static_cast<int64_t>(k), 0.0f) / k;
    st.last_loss =
        std::accumulate(st.losses.end() - static_cast<int64_t>(k), st.losses.end(), 0.0f) / k;
  }
  return st;
}

double eval_perplexity(const Transformer& model, QuantState* quant,
                       const std::vector<int32_t>& stream, int seq, int batch, int max_windows) {
  NoGrad ng;
  int64_t windows = (static_cast<int64_t>(stream.size()) - 1) / seq;
  if (max_windows > 0) windows = std::min<int64_t>(windows, max_windows);
  if (windows <= 0) throw DataError("evaluation stream is shorter than one window");
  double nll = 0;
  int64_t count = 0;
  for (int64_t w0 = 0; w0 < windows; w0 += batch) {
    const int nb = static_cast<int>(std::min<int64_t>(batch, windows - w0));
    Batch b;
    b.batch = nb;
    b.seq = seq;
    std::vector<int32_t> targets;
    for (int i = 0; i < nb; ++i) {
      const auto s = stream.begin() + (w0 + i) * seq;
      b.ids.insert(b.ids.end(), s, s + seq);
      targets.insert(targets.end(), s + 1, s + seq + 1);
    }
    ForwardResult r = model.forward(b, ForwardOptions{quant, false, 0});
    Var logits = model.lm_logits(r.hidden, quant, r.last_mask);
    nll += static_cast<double>(cross_entropy(logits, targets)->scalar()) *
           static_cast<double>(targets.size());
    count += static_cast<int64_t>(targets.size());
  }
  return std::exp(nll / static_cast<double>(count));
}

double eval_accuracy(const Transformer& model, QuantState* quant,
                     const std::vector<std::vector<int32_t>>& x, const std::vector<int>& y,
                     int max_seq, int batch, int32_t pad_id) {
  NoGrad ng;
  int correct = 0;
  for (size_t i0 = 0; i0 < x.size(); i0 += static_cast<size_t>(batch)) {
    std::vector<int> rows;
    for (size_t i = i0; i < std::min(x.size(), i0 + static_cast<size_t>(batch)); ++i)
      rows.push_back(static_cast<int>(i));
    std::vector<int32_t> labels;
    Batch b = cls_batch(x, y, rows, max_seq, pad_id, &labels);
    ForwardResult r = model.forward(b, ForwardOptions{quant, false, 0});
    const Mat logits = model.class_logits(r, b)->value;
    for (int k = 0; k < b.batch; ++k) {
      Eigen::Index arg;
      logits.row(k).maxCoeff(&arg);
      correct += static_cast<int>(arg) == labels[static_cast<size_t>(k)];
    }
  }
  return x.empty() ? 0.0 : static_cast<double>(correct) / static_cast<double>(x.size());
}

void calibrate(Task task, const Transformer& model, QuantState* quant, const TaskData& data,
               const TrainConfig& cfg, int batches, QuantState::Init how) {
  quant->init_weight_steps(model.unit_weights(), how);
  quant->mode = QuantState::Mode::kObserve;
  {
    NoGrad ng;
    for (int i = 0; i < batches; ++i) {
      const uint64_t seed = cfg.seed ^ 0xCA11B7A7Eull;
      std::vector<int32_t> targets;
      Batch b = task == Task::kCls
                    ? cls_batch(data.cls_train_x, data.cls_train_y,
                                cls_rows(data.cls_train_x.size(), cfg.batch, seed, i), cfg.seq,
                                data.pad_id, &targets)
                    : lm_batch(data.lm_train, cfg.batch, cfg.seq, seed, i, &targets);
      ForwardResult r = model.forward(b, ForwardOptions{quant, false, 0});
      if (task != Task::kCls) model.lm_logits(r.hidden, quant, r.last_mask);
    }
  }
  quant->mode = QuantState::Mode::kQuantize;
  quant->init_act_steps(how);
}

}  // namespace hilq::qat
