// Rounds, tests and the three-way rule of an A/B run (see verdict.h).
#include "reports/verdict.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <stdexcept>
#include <tuple>

#include "base/error.h"
#include "db/run_store.h"
#include "db/verdict_store.h"
#include "reports/stats.h"

namespace hilq::reports {
namespace {

using nlohmann::json;

std::string percent(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.2f%%", (ratio - 1.0) * 100.0);
  return buf;
}

std::vector<double> doubles_of(const json& j) {
  std::vector<double> out;
  if (!j.is_array()) return out;
  for (const auto& v : j)
    if (v.is_number()) out.push_back(v.get<double>());
  return out;
}

// The jobs of one (board, config), by round.
struct ConfigRounds {
  std::map<int, std::vector<const AbJob*>> rounds;
};

// A round is complete when all four ABBA jobs have finished; it is dropped when one of them
// failed or ran throttled.
struct RoundState {
  bool complete = false;
  std::string dropped;
  bool throttled = false, failed = false;
  std::vector<const AbJob*> baseline, candidate;
};

RoundState round_state(const std::vector<const AbJob*>& jobs) {
  RoundState st;
  std::set<int> slots;
  for (const AbJob* j : jobs) {
    slots.insert(j->slot.slot);
    (j->slot.arm == kBaselineArm ? st.baseline : st.candidate).push_back(j);
    if (!j->ok && !st.failed) {
      st.failed = true;
      st.dropped = "job " + j->job_id + " failed: " + j->error;
    } else if (j->ok && j->throttled && !st.throttled && !st.failed) {
      st.throttled = true;
      st.dropped = "job " + j->job_id + " throttled: " + j->throttle_reason;
    }
  }
  st.complete = slots.size() == 4;
  return st;
}

TestResult base_result(const std::string& board, const std::string& config,
                       const std::string& metric) {
  TestResult t;
  t.board = board;
  t.config = config;
  t.metric = metric;
  return t;
}

void note_versions(TestResult& t, const RoundState& st) {
  if (t.baseline_version.empty())
    for (const AbJob* j : st.baseline)
      if (!j->agent_version.empty()) t.baseline_version = j->agent_version;
  if (t.candidate_version.empty())
    for (const AbJob* j : st.candidate)
      if (!j->agent_version.empty()) t.candidate_version = j->agent_version;
}

// A metric compared by per-round log-ratios: `value` gives an arm's round value (or none).
template <typename ValueOf>
TestResult ratio_test(const std::string& board, const std::string& config,
                      const std::string& metric, double delta, const ConfigRounds& cr,
                      const VerdictParams& params, ValueOf value) {
  TestResult t = base_result(board, config, metric);
  t.method = "signed-rank";
  t.delta = delta;
  std::vector<double> logs, base_values, cand_values;
  for (const auto& [round, jobs] : cr.rounds) {
    const RoundState st = round_state(jobs);
    if (!st.complete) continue;
    ++t.rounds;
    note_versions(t, st);
    RoundValue rv;
    rv.round = round;
    if (!st.dropped.empty()) {
      ++t.rounds_dropped;
      t.throttled += st.throttled;
      t.failed += st.failed;
      rv.dropped = st.dropped;
      t.round_values.push_back(rv);
      continue;
    }
    rv.baseline = value(st.baseline);
    rv.candidate = value(st.candidate);
    if (!rv.baseline || !rv.candidate || *rv.baseline <= 0 || *rv.candidate <= 0) {
      ++t.rounds_dropped;
      ++t.failed;
      rv.dropped = "no " + metric + " figure in both arms";
      t.round_values.push_back(rv);
      continue;
    }
    ++t.rounds_used;
    logs.push_back(std::log(*rv.candidate / *rv.baseline));
    base_values.push_back(*rv.baseline);
    cand_values.push_back(*rv.candidate);
    t.round_values.push_back(rv);
  }
  if (!logs.empty()) {
    const stats::HodgesLehmann hl = stats::hodges_lehmann(logs, params.confidence);
    t.estimate = std::exp(hl.estimate);
    t.median_ratio = std::exp(stats::median(logs));
    if (hl.low) t.ci_low = std::exp(*hl.low);
    if (hl.high) t.ci_high = std::exp(*hl.high);
    t.p = stats::wilcoxon_signed_rank(logs).p;
    t.baseline_value = stats::median(base_values);
    t.candidate_value = stats::median(cand_values);
  }
  return t;
}

std::optional<double> pooled_median(const std::vector<const AbJob*>& jobs,
                                    const std::string& metric) {
  std::vector<double> pooled;
  for (const AbJob* j : jobs) {
    auto it = j->samples_ns.find(metric);
    if (it == j->samples_ns.end() || it->second.empty()) return std::nullopt;
    pooled.insert(pooled.end(), it->second.begin(), it->second.end());
  }
  if (pooled.empty()) return std::nullopt;
  return stats::median(pooled);
}

std::optional<double> mean_energy(const std::vector<const AbJob*>& jobs) {
  double sum = 0;
  for (const AbJob* j : jobs) {
    if (!j->energy_j) return std::nullopt;
    sum += *j->energy_j;
  }
  if (jobs.empty()) return std::nullopt;
  return sum / static_cast<double>(jobs.size());
}

// Memory: deterministic bytes, equal in every job of an arm, compared exactly.
TestResult memory_test(const std::string& board, const std::string& config,
                       const ConfigRounds& cr) {
  TestResult t = base_result(board, config, "memory_bytes");
  t.method = "exact bytes";
  std::set<int64_t> base, cand;
  for (const auto& [round, jobs] : cr.rounds) {
    const RoundState st = round_state(jobs);
    if (!st.complete) continue;
    ++t.rounds;
    note_versions(t, st);
    RoundValue rv;
    rv.round = round;
    bool usable = true;
    for (const AbJob* j : jobs) usable = usable && j->ok && j->memory_bytes;
    if (!usable) {
      ++t.rounds_dropped;
      ++t.failed;
      rv.dropped = st.dropped.empty() ? "no memory figure" : st.dropped;
      t.round_values.push_back(rv);
      continue;
    }
    ++t.rounds_used;
    for (const AbJob* j : st.baseline) base.insert(*j->memory_bytes);
    for (const AbJob* j : st.candidate) cand.insert(*j->memory_bytes);
    rv.baseline = static_cast<double>(*st.baseline.front()->memory_bytes);
    rv.candidate = static_cast<double>(*st.candidate.front()->memory_bytes);
    t.round_values.push_back(rv);
  }
  if (base.empty() || cand.empty()) {
    t.reason = "no round with a memory figure from both arms";
    return t;
  }
  if (base.size() > 1 || cand.size() > 1) {
    t.more_rounds_help = false;
    t.reason = "the memory figure varies between jobs of one build (" +
               std::to_string(base.size()) + " baseline, " + std::to_string(cand.size()) +
               " candidate values): not deterministic, cannot compare exactly";
    return t;
  }
  const auto b = static_cast<double>(*base.begin()), c = static_cast<double>(*cand.begin());
  t.baseline_value = b;
  t.candidate_value = c;
  if (b > 0) t.estimate = t.ci_low = t.ci_high = t.median_ratio = c / b;
  const int64_t diff = *cand.begin() - *base.begin();
  t.verdict = diff > 0 ? Verdict::kRegressed : diff < 0 ? Verdict::kImproved : Verdict::kSame;
  t.reason =
      diff == 0 ? "identical bytes"
                : "candidate " + std::string(diff > 0 ? "+" : "") + std::to_string(diff) + " bytes";
  return t;
}

// The three-way rule on one statistical test, p already adjusted.
void decide(TestResult& t, const VerdictParams& params) {
  const int needed = params.min_rounds;
  if (t.rounds > 0 && t.rounds_dropped > params.max_dropped * t.rounds) {
    t.verdict = Verdict::kInconclusive;
    t.reason = std::to_string(t.rounds_dropped) + " of " + std::to_string(t.rounds) +
               " rounds dropped (" + std::to_string(t.throttled) + " throttled, " +
               std::to_string(t.failed) + " failed): a board problem, not a code problem";
    return;
  }
  if (t.rounds_used < needed) {
    t.verdict = Verdict::kInconclusive;
    t.reason = "insufficient data: " + std::to_string(t.rounds_used) + " usable rounds, " +
               std::to_string(needed) + " needed";
    return;
  }
  if (!t.ci_low || !t.ci_high || !t.estimate || !t.p_adjusted) {
    t.verdict = Verdict::kInconclusive;
    t.reason = std::to_string(t.rounds_used) + " rounds are too few for a " +
               std::to_string(static_cast<int>(params.confidence * 100)) + " % confidence interval";
    return;
  }
  const double up = std::log1p(t.delta), half = std::log1p(t.delta / 2.0);
  const double est = std::log(*t.estimate), lo = std::log(*t.ci_low), hi = std::log(*t.ci_high);
  const bool significant = *t.p_adjusted < params.alpha;
  char ci[96];
  std::snprintf(ci, sizeof ci, "CI [%s, %s]", percent(*t.ci_low).c_str(),
                percent(*t.ci_high).c_str());
  if (significant && lo > half && est > up) {
    t.verdict = Verdict::kRegressed;
    t.reason = "slower by " + percent(*t.estimate) + ", " + ci;
  } else if (significant && hi < -half && est < -up) {
    t.verdict = Verdict::kImproved;
    t.reason = "faster by " + percent(*t.estimate) + ", " + ci;
  } else if (lo >= -up && hi <= up) {
    t.verdict = Verdict::kSame;
    t.reason = std::string(ci) + " inside +-" + percent(1.0 + t.delta).substr(1);
  } else {
    t.verdict = Verdict::kInconclusive;
    char why[200];
    std::snprintf(why, sizeof why, "%s not inside +-%.1f%%; estimate %s, adjusted p %.3g", ci,
                  t.delta * 100, percent(*t.estimate).c_str(), *t.p_adjusted);
    t.reason = why;
  }
}

}  // namespace

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kRegressed:
      return "REGRESSED";
    case Verdict::kSame:
      return "SAME";
    case Verdict::kImproved:
      return "IMPROVED";
    case Verdict::kInconclusive:
      return "INCONCLUSIVE";
  }
  return "INCONCLUSIVE";
}

Verdict verdict_from_name(const std::string& name) {
  for (Verdict v :
       {Verdict::kRegressed, Verdict::kSame, Verdict::kImproved, Verdict::kInconclusive})
    if (name == verdict_name(v)) return v;
  throw ConfigError("verdict '" + name + "' is not REGRESSED, SAME, IMPROVED or INCONCLUSIVE");
}

json to_json(const VerdictParams& p) {
  return {{"alpha", p.alpha},
          {"delta_latency", p.delta_latency},
          {"delta_energy", p.delta_energy},
          {"min_rounds", p.min_rounds},
          {"max_rounds", p.max_rounds},
          {"max_dropped", p.max_dropped},
          {"confidence", p.confidence}};
}

VerdictParams verdict_params_from_json(const json& j) {
  VerdictParams p;
  if (!j.is_object()) return p;
  p.alpha = j.value("alpha", p.alpha);
  p.delta_latency = j.value("delta_latency", p.delta_latency);
  p.delta_energy = j.value("delta_energy", p.delta_energy);
  p.min_rounds = j.value("min_rounds", p.min_rounds);
  p.max_rounds = j.value("max_rounds", p.max_rounds);
  p.max_dropped = j.value("max_dropped", p.max_dropped);
  p.confidence = j.value("confidence", p.confidence);
  return p;
}

json to_json(const AbSlot& s) {
  return {{"board", s.board},
          {"config", s.config},
          {"arm", s.arm},
          {"round", s.round},
          {"slot", s.slot}};
}

AbSlot ab_slot_from_json(const json& j) {
  AbSlot s;
  s.board = j.at("board").get<std::string>();
  s.config = j.at("config").get<std::string>();
  s.arm = j.at("arm").get<std::string>();
  s.round = j.at("round").get<int>();
  s.slot = j.at("slot").get<int>();
  return s;
}

const char* arm_of_slot(int slot) { return slot == 1 || slot == 2 ? kCandidateArm : kBaselineArm; }

std::string arm_queue(const std::string& board, const std::string& arm) {
  return board + "@" + arm;
}

std::optional<std::pair<std::string, std::string>> split_arm_queue(const std::string& queue) {
  const size_t at = queue.rfind('@');
  if (at == std::string::npos) return std::nullopt;
  std::string arm = queue.substr(at + 1);
  if (arm != kBaselineArm && arm != kCandidateArm) return std::nullopt;
  return std::make_pair(queue.substr(0, at), std::move(arm));
}

std::string config_key(const std::string& kind, const json& config) {
  auto num = [&](const char* k, int fallback) {
    auto it = config.find(k);
    return it != config.end() && it->is_number_integer() ? it->get<int>() : fallback;
  };
  auto str = [&](const char* k) {
    auto it = config.find(k);
    return it != config.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (kind == "kernel-bench") {
    std::string key = (str("op").empty() ? "gemv" : str("op")) + "-w" +
                      std::to_string(num("w_bits", 8)) + "a" + std::to_string(num("a_bits", 8));
    if (num("group", 0)) key += "g" + std::to_string(num("group", 0));
    key += "-" + std::to_string(num("m", 0)) + "x" + std::to_string(num("k", 0));
    if (num("n", 1) != 1) key += "x" + std::to_string(num("n", 1));
    if (num("threads", 1) != 1) key += "-t" + std::to_string(num("threads", 1));
    return key;
  }
  if (kind == "model-bench") {
    std::string setting = str("setting");
    if (setting.empty()) setting = str("weights").empty() ? "as-stored" : str("weights");
    return setting + "-p" + std::to_string(num("prompt_tokens", 128)) + "-d" +
           std::to_string(num("decode_tokens", 128)) + "-t" + std::to_string(num("threads", 1));
  }
  return kind;
}

AbJob ab_job_from_row(const db::MeasurementRow& row, const AbSlot& slot) {
  AbJob j;
  j.job_id = row.job_id;
  j.slot = slot;
  j.ok = row.status == "ok";
  j.error = row.error_class.value_or("") + (row.error ? ": " + *row.error : "");
  j.agent_version = row.agent_version.value_or("");
  const json metrics = json::parse(row.metrics, nullptr, false);
  if (metrics.is_object()) {
    if (auto t = metrics.find("throttled"); t != metrics.end() && t->is_boolean())
      j.throttled = t->get<bool>();
    if (auto r = metrics.find("throttle_reasons"); r != metrics.end() && r->is_array())
      for (const auto& s : *r)
        if (s.is_string())
          j.throttle_reason += (j.throttle_reason.empty() ? "" : "; ") + s.get<std::string>();
  }
  if (row.kind == "model-bench") {
    if (metrics.is_object())
      if (auto s = metrics.find("samples_ns"); s != metrics.end() && s->is_object()) {
        if (s->contains("decode") && !(*s)["decode"].empty())
          j.samples_ns["decode"] = doubles_of((*s)["decode"]);
        if (s->contains("prefill")) j.samples_ns["prefill"] = doubles_of((*s)["prefill"]);
      }
    if (row.model_bytes)
      j.memory_bytes = *row.model_bytes + row.kv_bytes.value_or(0) + row.arena_bytes.value_or(0);
    j.energy_j = row.energy_per_token_j;
  } else {
    if (row.samples_ns)
      j.samples_ns["latency"] = doubles_of(json::parse(*row.samples_ns, nullptr, false));
    j.memory_bytes = row.model_bytes;
    j.energy_j = row.energy_j;
  }
  j.energy_unavailable = row.power_unavailable.value_or(j.energy_j ? "" : "no energy figure");
  return j;
}

std::vector<TestResult> evaluate(const std::vector<AbJob>& jobs, const VerdictParams& params) {
  std::map<std::pair<std::string, std::string>, ConfigRounds> by_config;
  for (const AbJob& j : jobs)
    by_config[{j.slot.board, j.slot.config}].rounds[j.slot.round].push_back(&j);
  std::vector<TestResult> tests;
  for (const auto& [key, cr] : by_config) {
    const auto& [board, config] = key;
    std::set<std::string> metrics;
    bool energy_everywhere = true, any_ok = false;
    for (const auto& [round, list] : cr.rounds)
      for (const AbJob* j : list) {
        if (!j->ok) continue;
        any_ok = true;
        for (const auto& [m, s] : j->samples_ns) metrics.insert(m);
        energy_everywhere = energy_everywhere && j->energy_j.has_value();
      }
    for (const auto& m : metrics)
      tests.push_back(
          ratio_test(board, config, m, params.delta_latency, cr, params,
                     [&](const std::vector<const AbJob*>& arm) { return pooled_median(arm, m); }));
    if (any_ok && energy_everywhere)
      tests.push_back(
          ratio_test(board, config, "energy", params.delta_energy, cr, params, mean_energy));
    tests.push_back(memory_test(board, config, cr));
  }
  // Benjamini-Hochberg across the statistical tests of the run.
  std::vector<double> p;
  std::vector<TestResult*> tested;
  for (auto& t : tests)
    if (t.p) {
      p.push_back(*t.p);
      tested.push_back(&t);
    }
  const std::vector<double> adjusted = stats::benjamini_hochberg(p);
  for (size_t i = 0; i < tested.size(); ++i) tested[i]->p_adjusted = adjusted[i];
  for (auto& t : tests)
    if (t.method == "signed-rank") decide(t, params);
  return tests;
}

std::map<std::string, std::string> unmeasured_energy(const std::vector<AbJob>& jobs) {
  std::map<std::string, std::string> out;
  for (const AbJob& j : jobs)
    if (j.ok && !j.energy_j) out.emplace(j.slot.board + " " + j.slot.config, j.energy_unavailable);
  return out;
}

int verdict_exit_code(const std::vector<TestResult>& tests) {
  if (tests.empty()) return 4;
  bool inconclusive = false;
  for (const auto& t : tests) {
    if (t.verdict == Verdict::kRegressed) return 3;
    inconclusive = inconclusive || t.verdict == Verdict::kInconclusive;
  }
  return inconclusive ? 4 : 0;
}

std::vector<AbJob> load_ab_jobs(db::Database& db, int64_t run_id) {
  std::map<std::string, db::MeasurementRow> rows;
  for (auto& m : db::MeasurementStore(db).of_run(run_id)) rows.emplace(m.job_id, std::move(m));
  std::vector<AbJob> out;
  for (const auto& a : db::VerdictStore(db).ab_jobs(run_id)) {
    auto it = rows.find(a.job_id);
    if (it == rows.end()) continue;  // not finished
    out.push_back(ab_job_from_row(it->second, AbSlot{a.board, a.config, a.arm, a.round, a.slot}));
  }
  return out;
}

VerdictParams load_verdict_params(db::Database& db, int64_t run_id) {
  const auto run = db::RunStore(db).run(run_id);
  if (!run) throw ConfigError("no run " + std::to_string(run_id) + " in " + db.path());
  const json options = json::parse(run->options, nullptr, false);
  if (!options.is_object() || !options.contains("ab")) return {};
  return verdict_params_from_json(options["ab"].value("params", json::object()));
}

}  // namespace hilq::reports
