// The tiered search (see tiered.h).
#include "search/tiered.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "db/evaluation_store.h"
#include "db/search_store.h"
#include "model/sha256.h"
#include "search/pareto.h"

namespace hilq::search {
namespace {

using Clock = std::chrono::steady_clock;

double now_s() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

std::string weight_setting(int w_bits) { return "W" + std::to_string(w_bits); }

std::string act_setting(ActMode m) {
  switch (m) {
    case ActMode::kA8:
      return "W8A8";
    case ActMode::kTa:
      return "W8A4-TA8/4";
    case ActMode::kA4:
      return "W8A4";
  }
  return "?";
}

std::string act_unit(int layer) { return "layers." + std::to_string(layer) + ".act"; }

std::string percent(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%+.1f%%", 100.0 * x);
  return buf;
}

std::string megabytes(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

std::string duration(double s) {
  char buf[32];
  if (s >= 60)
    std::snprintf(buf, sizeof(buf), "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  else
    std::snprintf(buf, sizeof(buf), "%.0fs", s);
  return buf;
}

// The JSON of a point that maps to no quant config (stored for a pruned candidate).
std::string point_json(const Point& p) {
  nlohmann::json acts = nlohmann::json::array();
  for (const ActMode m : p.act) acts.push_back(act_mode_name(m));
  return nlohmann::json{{"w_bits", p.w_bits}, {"act", acts}}.dump();
}

}  // namespace

int64_t unit_weight_bytes(const model::Architecture& a, const std::string& unit, int w_bits,
                          int group) {
  const std::string leaf = unit.substr(unit.rfind('.') + 1);
  int rows = a.d_model, cols = a.d_model;
  if (unit == "embed") {
    rows = a.vocab_size;
    group = 0;
  } else if (leaf == "gate" || leaf == "up") {
    rows = a.d_ff;
  } else if (leaf == "down") {
    cols = a.d_ff;
  }
  const int64_t groups = group ? (cols + group - 1) / group : 1;
  return static_cast<int64_t>(rows) * cols * w_bits / 8 + static_cast<int64_t>(rows) * groups * 4;
}

int64_t smallest_point_bytes(const model::Architecture& arch, int group) {
  int64_t bytes = 0;
  for (const auto& u : model::unit_names(arch.n_layers))
    bytes += unit_weight_bytes(arch, u, weight_ladder().back(), group);
  return bytes;
}

void check_memory_budget(const model::Architecture& arch, int group, int64_t budget_bytes) {
  const int64_t smallest = smallest_point_bytes(arch, group);
  if (budget_bytes < smallest)
    throw UsageError("--mem-budget-mb " + megabytes(budget_bytes) +
                     " is below the smallest model the search can make (" + megabytes(smallest) +
                     " of weights with every unit at 2 bits)");
}

TieredSearch::TieredSearch(HostScorer& scorer, db::Database& db, int64_t run_id,
                           TieredOptions options)
    : scorer_(scorer), db_(db), run_id_(run_id), options_(std::move(options)) {
  const auto& a = scorer_.arch();
  space_ = {a.n_layers, options_.group, options_.high_fraction};
  if (options_.constraints.max_metric_increase < 0)
    throw UsageError("--max-ppl-increase must not be negative");
  if (options_.constraints.max_acc_drop < 0)
    throw UsageError("--max-acc-drop must not be negative");
}

double TieredSearch::metric_limit() const {
  return scorer_.higher_is_better()
             ? float_metric_ - options_.constraints.max_acc_drop / 100.0
             : float_metric_ * (1 + options_.constraints.max_metric_increase);
}

bool TieredSearch::meets_quality(double validation) const {
  return scorer_.higher_is_better() ? validation >= metric_limit() : validation <= metric_limit();
}

double TieredSearch::allowed_change() const {
  return scorer_.higher_is_better() ? options_.constraints.max_acc_drop
                                    : options_.constraints.max_metric_increase;
}

// Perplexity changes are relative ("+7.3%"), accuracy changes in points lost.
std::string TieredSearch::change_text(double change) const {
  if (!scorer_.higher_is_better()) return percent(change);
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.1f accuracy points lost", change);
  return buf;
}

int64_t TieredSearch::unit_bytes(const std::string& unit, int w_bits) const {
  return unit_weight_bytes(scorer_.arch(), unit, w_bits, options_.group);
}

bool TieredSearch::exhausted() const { return evaluated_ >= options_.budget; }

bool TieredSearch::stopped() const { return options_.stop && options_.stop->load(); }

double TieredSearch::sens_change(const std::string& unit, const std::string& setting) const {
  const auto it = sens_.find({unit, setting});
  return it == sens_.end() ? 0.0 : it->second.first;
}

double TieredSearch::sens_kl(const std::string& unit, const std::string& setting) const {
  const auto it = sens_.find({unit, setting});
  return it == sens_.end() ? 0.0 : it->second.second;
}

void TieredSearch::sensitivity() {
  db::SearchStore store(db_);
  const std::string split = "calibration";
  const int windows = scorer_.windows(split);
  const double fp = scorer_.float_metric(split);
  struct Job {
    std::string unit, setting;
    model::QuantSpec spec;
  };
  std::vector<Job> jobs;
  for (const auto& u : model::unit_names(space_.n_layers))
    for (const int w : weight_ladder()) {
      model::QuantSpec spec;
      spec.act_scale = model::ActScaleMode::kDynamic;
      spec.units[u] = {w, 0, u == "embed" ? 0 : options_.group};
      jobs.push_back({u, weight_setting(w), spec});
    }
  for (int l = 0; l < space_.n_layers; ++l)
    for (const ActMode m : {ActMode::kA8, ActMode::kTa, ActMode::kA4}) {
      Point p;
      model::QuantSpec spec;
      spec.act_scale = model::ActScaleMode::kDynamic;
      for (const auto& u : block_units("layers." + std::to_string(l), space_.n_layers))
        spec.units[u] = {8, m == ActMode::kA8 ? 8 : 4, options_.group};
      if (m == ActMode::kTa)
        spec.token_adaptive = model::TokenAdaptivePolicy{8, 4, space_.high_fraction};
      jobs.push_back({act_unit(l), act_setting(m), spec});
    }
  const double t0 = now_s();
  int done = 0, ran = 0;
  double last_line = 0;
  for (const Job& j : jobs) {
    if (stopped()) return;
    auto row =
        store.sensitivity(scorer_.model_hash(), j.unit, j.setting, split, windows, kScorerVersion);
    if (!row) {
      const CandidateScore s = scorer_.score_transient(j.spec, split);
      row = db::SensitivityRow{
          scorer_.model_hash(),
          j.unit,
          j.setting,
          split,
          windows,
          scorer_.metric_name(),
          s.metric,
          scorer_.higher_is_better() ? 100.0 * (fp - s.metric) : s.metric / fp - 1,
          s.output_kl,
          kScorerVersion};
      store.put_sensitivity(*row);
      ++ran;
      ++sensitivity_count_;
    }
    sens_[{j.unit, j.setting}] = {row->metric_change, row->output_kl};
    ++done;
    if (options_.progress &&
        (now_s() - last_line >= 2.0 || done == static_cast<int>(jobs.size()))) {
      const double per = ran ? (now_s() - t0) / ran : 0.0;
      options_.progress(
          "[sensitivity] " + std::to_string(done) + "/" + std::to_string(jobs.size()) +
          " units x widths (" + std::to_string(done - ran) + " from the table), ETA " +
          duration(per * static_cast<double>(jobs.size() - static_cast<size_t>(done))));
      last_line = now_s();
    }
  }
}

std::string TieredSearch::prune_reason(const Move& m) const {
  const double limit = allowed_change();
  for (const auto& [unit, setting] : m.changes) {
    const double change = sens_change(unit, setting);
    if (change > limit) {
      std::string why = unit;
      why += " alone at " + setting + " already changes calibration ";
      why += scorer_.metric_name() + " by " + change_text(change);
      why += " (limit " + change_text(limit) + ")";
      return why;
    }
  }
  return {};
}

const SearchCandidate* TieredSearch::record(SearchCandidate c, const std::string& config,
                                            const std::string& config_hash) {
  db::EvaluationStore evals(db_);
  db::SearchStore store(db_);
  c.id = evals.candidate(run_id_, config, config_hash, c.tier, c.parent);
  store.set_outcome(
      c.id,
      {c.label, c.packed.path.empty() ? std::optional<int64_t>() : c.packed.memory_bytes, c.status,
       c.reason, c.packed.sha256.empty() ? std::optional<std::string>() : c.packed.sha256});
  if (!std::isnan(c.validation)) {
    evals.record({c.id, "validation", scorer_.metric_name(), c.validation});
    if (c.status != "reference") evals.record({c.id, "validation", "output_kl", c.output_kl});
  }
  by_hash_[config_hash] = candidates_.size();
  candidates_.push_back(std::move(c));
  return &candidates_.back();
}

const SearchCandidate& TieredSearch::evaluate(const Point& p, const std::string& tier,
                                              std::optional<int64_t> parent,
                                              const std::string& prune) {
  const std::string unrep = unrepresentable_reason(p);
  model::QuantSpec spec;
  std::string config, hash;
  if (unrep.empty()) {
    spec = to_spec(space_, p);
    config = spec.to_json();
    hash = spec.hash();
  } else {
    config = point_json(p);
    hash = model::sha256_hex(config);
  }
  if (auto it = by_hash_.find(hash); it != by_hash_.end()) return candidates_[it->second];
  SearchCandidate c;
  c.point = p;
  c.spec = spec;
  c.label = point_label(space_, p);
  c.tier = tier;
  c.parent = parent;
  if (!unrep.empty() || !prune.empty()) {
    c.status = "pruned";
    c.reason = unrep.empty() ? prune : unrep;
    return *record(std::move(c), config, hash);
  }
  c.packed = scorer_.pack(spec);
  const CandidateScore s = scorer_.score(spec, c.packed, "validation");
  ++evaluated_;
  c.validation = s.metric;
  c.output_kl = s.output_kl;
  c.quality_ok = meets_quality(s.metric);
  const auto& budget = options_.constraints.mem_budget_bytes;
  c.memory_ok = !budget || c.packed.memory_bytes <= *budget;
  char why[160];
  if (!c.quality_ok) {
    c.status = "over-quality";
    const bool acc = scorer_.higher_is_better();
    std::snprintf(
        why, sizeof(why), "validation %s %.4f %s the limit %.4f (%s)",
        scorer_.metric_name().c_str(), c.validation, acc ? "below" : "above", metric_limit(),
        change_text(acc ? 100.0 * (float_metric_ - c.validation) : c.validation / float_metric_ - 1)
            .c_str());
    c.reason = why;
  } else if (!c.memory_ok) {
    c.status = "over-budget";
    c.reason =
        "memory " + megabytes(c.packed.memory_bytes) + " above the budget " + megabytes(*budget);
  } else {
    c.status = "feasible";
  }
  const SearchCandidate* out = record(std::move(c), config, hash);
  report(tier);
  return *out;
}

void TieredSearch::report(const std::string& tier) {
  if (!options_.progress) return;
  const SearchCandidate* best = nullptr;
  for (const auto& c : candidates_)
    if (c.feasible() && (!best || c.packed.memory_bytes < best->packed.memory_bytes)) best = &c;
  const int left = std::max(0, options_.budget - evaluated_);
  const double per =
      scorer_.scorings() ? scorer_.scoring_seconds() / static_cast<double>(scorer_.scorings()) : 0;
  char line[512];
  std::snprintf(line, sizeof(line),
                "[%s] scored %d (%lld from the cache), at most %d left, ETA <= %s; best "
                "feasible: %s",
                tier.c_str(), evaluated_, static_cast<long long>(scorer_.cache_hits()), left,
                duration(per * left).c_str(),
                best ? (best->label + ", " + scorer_.metric_name() + " " +
                        std::to_string(best->validation).substr(0, 6) + ", " +
                        megabytes(best->packed.memory_bytes))
                           .c_str()
                     : "none yet");
  options_.progress(line);
}

void TieredSearch::references() {
  // The float model as FP32 (validation metric of the limit) and FP16: measured on the boards
  // as the baselines a speed-up is reported against, never in a front.
  for (const char* name : {"FP32", "FP16"}) {
    SearchCandidate c;
    c.label = name;
    c.tier = "float";
    c.status = "reference";
    c.packed.path = scorer_.model_path();
    c.packed.memory_bytes = std::string(name) == "FP32" ? float_bytes_ : scorer_.fp16_bytes();
    if (std::string(name) == "FP32") c.validation = float_metric_;
    c.quality_ok = true;
    const std::string config = nlohmann::json{{"setting", name}}.dump();
    record(std::move(c), config, model::sha256_hex(config));
  }
}

const SearchCandidate* TieredSearch::global_tier() {
  const SearchCandidate* base = nullptr;
  for (const int w : weight_ladder()) {
    if (stopped() || exhausted()) break;
    Move m;
    m.point = uniform_point(space_, w, ActMode::kA8);
    for (const auto& [u, bits] : m.point.w_bits) m.changes.emplace_back(u, weight_setting(bits));
    const std::string pruned = prune_reason(m);
    const SearchCandidate& c =
        evaluate(m.point, "global", base ? std::optional<int64_t>(base->id) : std::nullopt, pruned);
    if (!c.quality_ok) break;
    base = &c;
  }
  return base;
}

const SearchCandidate* TieredSearch::activation_tier(const SearchCandidate* base) {
  // Every block's inputs one mode down at once (TA8/4, then A4), then block by block.
  for (const ActMode a : {ActMode::kTa, ActMode::kA4}) {
    if (stopped() || exhausted()) break;
    Move m;
    m.point = base->point;
    m.point.act.assign(m.point.act.size(), a);
    for (int l = 0; l < space_.n_layers; ++l) m.changes.emplace_back(act_unit(l), act_setting(a));
    const SearchCandidate& c = evaluate(m.point, "block", base->id, prune_reason(m));
    if (!c.quality_ok) break;
    base = &c;
  }
  return descend(base, "block", Moves::kBlockActivations);
}

const SearchCandidate* TieredSearch::descend(const SearchCandidate* base, const std::string& tier,
                                             Moves kind) {
  const SearchCandidate* current = base;
  std::set<std::string> stuck;
  while (!stopped() && !exhausted()) {
    std::vector<std::pair<std::string, Move>> moves;  // key, move
    auto lower_units = [&](const std::vector<std::string>& units, const std::string& key) {
      Move m;
      m.point = current->point;
      double kl = 0;
      int64_t saved = 0;
      for (const auto& u : units) {
        const int w = current->point.w_bits.at(u);
        const auto lw = lower_width(w);
        if (!lw) continue;
        m.point.w_bits[u] = *lw;
        m.changes.emplace_back(u, weight_setting(*lw));
        kl += sens_kl(u, weight_setting(*lw));
        saved += unit_bytes(u, w) - unit_bytes(u, *lw);
      }
      if (m.changes.empty() || saved <= 0) return;
      m.cost = kl / static_cast<double>(saved);
      m.what = key;
      moves.emplace_back(key, std::move(m));
    };
    if (kind == Moves::kBlockWeights) {
      for (const auto& b : blocks(space_.n_layers))
        lower_units(block_units(b, space_.n_layers), b + " weights");
    } else if (kind == Moves::kBlockActivations) {
      for (const auto& b : blocks(space_.n_layers)) {
        const int l = block_layer(b);
        if (l < 0) continue;
        const auto la = lower_act(current->point.act[static_cast<size_t>(l)]);
        if (!la) continue;
        Move m;
        m.point = current->point;
        m.point.act[static_cast<size_t>(l)] = *la;
        m.changes.emplace_back(act_unit(l), act_setting(*la));
        // Activations save no weight memory: least KL first.
        m.cost = sens_kl(act_unit(l), act_setting(*la));
        m.what = b + " activations";
        moves.emplace_back(m.what, std::move(m));
      }
    } else {
      for (const auto& u : model::unit_names(space_.n_layers)) lower_units({u}, u);
    }
    std::erase_if(moves, [&](const auto& km) { return stuck.contains(km.first); });
    std::sort(moves.begin(), moves.end(), [](const auto& a, const auto& b) {
      return a.second.cost != b.second.cost ? a.second.cost < b.second.cost : a.first < b.first;
    });
    bool accepted = false;
    for (auto& [key, m] : moves) {
      if (stopped() || exhausted()) break;
      const std::string pruned = prune_reason(m);
      const SearchCandidate& c = evaluate(m.point, tier, current->id, pruned);
      if (c.quality_ok) {
        current = &c;
        accepted = true;
        break;
      }
      stuck.insert(key);
    }
    if (!accepted) break;
  }
  return current;
}

const SearchCandidate* TieredSearch::trade(const SearchCandidate* base) {
  const SearchCandidate* current = base;
  std::set<std::string> tried;
  bool improved = true;
  while (improved && !stopped() && !exhausted()) {
    improved = false;
    // Units by the bytes one width down would save, most first.
    std::vector<std::pair<int64_t, std::string>> order;
    for (const auto& [u, w] : current->point.w_bits)
      if (const auto lw = lower_width(w))
        order.emplace_back(unit_bytes(u, w) - unit_bytes(u, *lw), u);
    std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    for (const auto& [saved, u] : order) {
      if (stopped() || exhausted()) break;
      const int lw = *lower_width(current->point.w_bits.at(u));
      // The most sensitive other unit of u's block (at its own width) that can go one up.
      std::string raise;
      double worst = -1;
      for (const auto& r : block_units(block_of(u), space_.n_layers)) {
        if (r == u || !higher_width(current->point.w_bits.at(r))) continue;
        const double kl = sens_kl(r, weight_setting(current->point.w_bits.at(r)));
        if (kl > worst) worst = kl, raise = r;
      }
      if (raise.empty()) continue;
      const int wr = current->point.w_bits.at(raise), hr = *higher_width(wr);
      if (unit_bytes(raise, hr) - unit_bytes(raise, wr) >= saved) continue;
      Move m;
      m.point = current->point;
      m.point.w_bits[u] = lw;
      m.point.w_bits[raise] = hr;
      m.changes = {{u, weight_setting(lw)}};
      std::string key = u;
      key += ">" + raise;
      if (!tried.insert(key).second) continue;
      const SearchCandidate& c = evaluate(m.point, "module", current->id, prune_reason(m));
      if (c.quality_ok) {
        current = &c;
        improved = true;
        break;
      }
    }
  }
  return current;
}

const SearchCandidate* TieredSearch::block_tier(const SearchCandidate* base) {
  return descend(base, "block", Moves::kBlockWeights);
}

const SearchCandidate* TieredSearch::module_tier(const SearchCandidate* base) {
  const SearchCandidate* c = descend(base, "module", Moves::kUnits);
  const SearchCandidate* t = trade(c);
  return t == c ? c : descend(t, "module", Moves::kUnits);
}

bool TieredSearch::run() {
  started_ = now_s();
  float_metric_ = scorer_.float_metric("validation");
  float_bytes_ = scorer_.float_bytes();
  if (const auto& budget = options_.constraints.mem_budget_bytes)
    check_memory_budget(scorer_.arch(), options_.group, *budget);
  references();
  if (options_.strategy == "random" || options_.strategy == "nsga2") {
    if (options_.strategy == "random")
      random_search();
    else
      nsga2_search();
    return !stopped();
  }
  if (options_.strategy != "tiered")
    throw UsageError("--strategy " + options_.strategy +
                     ": the strategies are tiered, nsga2, random");
  sensitivity();
  if (stopped()) return false;
  const SearchCandidate* base = global_tier();
  if (stopped()) return false;
  if (!base) {
    if (options_.progress)
      options_.progress("[global] no uniform setting meets the quality constraint: the tiers stop");
    return true;
  }
  const SearchCandidate* b = block_tier(base);
  if (stopped()) return false;
  const SearchCandidate* m = module_tier(b);
  if (stopped()) return false;
  // Activations last: they save no weight memory, so they must not spend the quality budget the
  // weight tiers turn into memory.
  activation_tier(m);
  if (stopped()) return false;
  refine_front();
  return !stopped();
}

std::vector<const SearchCandidate*> TieredSearch::quality_feasible() const {
  std::vector<const SearchCandidate*> out;
  for (const auto& c : candidates_)
    if (c.status != "reference" && c.status != "pruned" && c.quality_ok) out.push_back(&c);
  return out;
}

std::vector<const SearchCandidate*> TieredSearch::to_measure() const {
  std::vector<ParetoPoint> points;
  std::map<int64_t, const SearchCandidate*> by_id;
  const auto candidates = quality_feasible();
  for (const SearchCandidate* c : candidates) {
    double act_bits = 0;
    for (const ActMode m : c->point.act)
      act_bits += m == ActMode::kA8   ? 8.0
                  : m == ActMode::kTa ? 4.0 + 4.0 * space_.high_fraction
                                      : 4.0;
    points.push_back({c->id,
                      {scorer_.higher_is_better() ? 1.0 - c->validation : c->validation,
                       static_cast<double>(c->packed.memory_bytes), act_bits},
                      {}});
    by_id[c->id] = c;
  }
  std::set<int64_t> chosen;
  for (const int64_t id : pareto_front(points)) chosen.insert(id);
  // A QAT'd candidate's PTQ parent too, so the boards show what QAT changed.
  for (const SearchCandidate* c : candidates)
    if (c->tier == "qat" && chosen.contains(c->id) && c->parent && by_id.contains(*c->parent))
      chosen.insert(*c->parent);
  std::vector<const SearchCandidate*> out;
  for (const SearchCandidate* c : candidates)
    if (chosen.contains(c->id)) out.push_back(c);
  return out;
}

}  // namespace hilq::search
