// Markdown and JSON of regress and history (see verdict_report.h).
#include "reports/verdict_report.h"

#include <cmath>
#include <cstdio>
#include <set>

#include "base/error.h"
#include "db/run_store.h"
#include "reports/format.h"

namespace hilq::reports {
namespace {

using nlohmann::json;

std::string pct(const std::optional<double>& ratio) {
  if (!ratio) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.2f%%", (*ratio - 1.0) * 100.0);
  return buf;
}

std::string pvalue(const std::optional<double>& p) {
  if (!p) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", *p);
  return buf;
}

json opt(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

std::string value_text(const std::string& metric, const std::optional<double>& v) {
  if (!v) return "-";
  if (metric == "memory_bytes") return number_text(static_cast<int64_t>(std::llround(*v))) + " B";
  if (metric == "energy") return number_text(*v) + " J";
  return duration_text(*v);
}

}  // namespace

std::optional<int64_t> latest_ab_run(db::Database& db) {
  const auto runs = db::VerdictStore(db).ab_runs();
  if (runs.empty()) return std::nullopt;
  return runs.back();
}

RegressReport regress_report(db::Database& db, int64_t run_id,
                             const std::optional<VerdictParams>& params) {
  const auto run = db::RunStore(db).run(run_id);
  if (!run) throw ConfigError("--run " + std::to_string(run_id) + ": no such run in " + db.path());
  const std::vector<AbJob> jobs = load_ab_jobs(db, run_id);
  if (db::VerdictStore(db).ab_jobs(run_id).empty())
    throw ConfigError("run " + std::to_string(run_id) +
                      " is not an A/B run (hil-search --baseline-agent/--candidate-agent)");
  RegressReport r;
  r.run_id = run_id;
  r.git_sha = run->git_sha;
  r.params = params ? *params : load_verdict_params(db, run_id);
  r.tests = evaluate(jobs, r.params);
  r.energy_unmeasured = unmeasured_energy(jobs);
  r.exit_code = verdict_exit_code(r.tests);
  return r;
}

std::string regress_markdown(const RegressReport& r) {
  std::string md = "# Regression verdict, run " + std::to_string(r.run_id) + "\n\n";
  std::set<std::string> base, cand;
  for (const auto& t : r.tests) {
    if (!t.baseline_version.empty()) base.insert(t.baseline_version);
    if (!t.candidate_version.empty()) cand.insert(t.candidate_version);
  }
  auto list = [](const std::set<std::string>& s) {
    std::string out;
    for (const auto& v : s) out += (out.empty() ? "" : ", ") + v;
    return out.empty() ? std::string("?") : out;
  };
  char params[256];
  std::snprintf(params, sizeof params,
                "alpha %.3g (Benjamini-Hochberg over %s), delta %.3g%% latency, %.3g%% energy, "
                "memory exact; rounds %d to %d; at most %.0f%% dropped",
                r.params.alpha, "every test of the run", r.params.delta_latency * 100,
                r.params.delta_energy * 100, r.params.min_rounds, r.params.max_rounds,
                r.params.max_dropped * 100);
  md += "Baseline `" + list(base) + "`, candidate `" + list(cand) + "`";
  if (r.git_sha) md += ", host build `" + *r.git_sha + "`";
  md += ".\n" + std::string(params) + ".\n\n";
  const char* overall = r.exit_code == 0   ? "no regression"
                        : r.exit_code == 3 ? "REGRESSION"
                                           : "inconclusive (or insufficient data)";
  md += "**Overall: " + std::string(overall) + "** (exit " + std::to_string(r.exit_code) + ")\n\n";
  md +=
      "| board | config | metric | verdict | estimate | 95% CI | p | BH p | rounds used/dropped "
      "| baseline | candidate | why |\n";
  md += "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& t : r.tests) {
    md += "| " + t.board + " | " + t.config + " | " + t.metric + " | **" + verdict_name(t.verdict) +
          "** | " + pct(t.estimate) + " | " +
          (t.ci_low && t.ci_high ? "[" + pct(t.ci_low) + ", " + pct(t.ci_high) + "]" : "-") +
          " | " + pvalue(t.p) + " | " + pvalue(t.p_adjusted) + " | " +
          std::to_string(t.rounds_used) + "/" + std::to_string(t.rounds_dropped) + " | " +
          value_text(t.metric, t.baseline_value) + " | " + value_text(t.metric, t.candidate_value) +
          " | " + t.reason + " |\n";
  }
  if (!r.energy_unmeasured.empty()) {
    md += "\nEnergy not compared (not measured in every job):\n\n";
    for (const auto& [what, why] : r.energy_unmeasured) {
      md += "- ";
      md += what;
      md += ": ";
      md += why;
      md += "\n";
    }
  }
  return md;
}

json regress_json(const RegressReport& r) {
  json tests = json::array();
  for (const auto& t : r.tests) {
    json rounds = json::array();
    for (const auto& rv : t.round_values)
      rounds.push_back({{"round", rv.round},
                        {"baseline", opt(rv.baseline)},
                        {"candidate", opt(rv.candidate)},
                        {"dropped", rv.dropped.empty() ? json(nullptr) : json(rv.dropped)}});
    tests.push_back({{"board", t.board},
                     {"config", t.config},
                     {"metric", t.metric},
                     {"method", t.method},
                     {"verdict", verdict_name(t.verdict)},
                     {"reason", t.reason},
                     {"delta", t.delta},
                     {"estimate", opt(t.estimate)},
                     {"median_ratio", opt(t.median_ratio)},
                     {"ci_low", opt(t.ci_low)},
                     {"ci_high", opt(t.ci_high)},
                     {"p", opt(t.p)},
                     {"p_adjusted", opt(t.p_adjusted)},
                     {"baseline_value", opt(t.baseline_value)},
                     {"candidate_value", opt(t.candidate_value)},
                     {"rounds", t.rounds},
                     {"rounds_used", t.rounds_used},
                     {"rounds_dropped", t.rounds_dropped},
                     {"throttled", t.throttled},
                     {"failed", t.failed},
                     {"baseline_version", t.baseline_version},
                     {"candidate_version", t.candidate_version},
                     {"round_values", rounds}});
  }
  return {{"run", r.run_id},
          {"git_sha", r.git_sha ? json(*r.git_sha) : json(nullptr)},
          {"params", to_json(r.params)},
          {"exit_code", r.exit_code},
          {"tests", tests},
          {"energy_unmeasured", r.energy_unmeasured}};
}

std::vector<db::VerdictRow> verdict_rows(int64_t run_id, const std::vector<TestResult>& tests) {
  std::vector<db::VerdictRow> rows;
  for (const auto& t : tests) {
    db::VerdictRow v;
    v.run_id = run_id;
    v.board = t.board;
    v.config = t.config;
    v.metric = t.metric;
    v.method = t.method;
    if (!t.baseline_version.empty()) v.baseline_version = t.baseline_version;
    if (!t.candidate_version.empty()) v.candidate_version = t.candidate_version;
    v.estimate = t.estimate;
    v.ci_low = t.ci_low;
    v.ci_high = t.ci_high;
    v.p = t.p;
    v.p_adjusted = t.p_adjusted;
    v.baseline_value = t.baseline_value;
    v.candidate_value = t.candidate_value;
    v.rounds = t.rounds;
    v.rounds_used = t.rounds_used;
    v.rounds_dropped = t.rounds_dropped;
    v.verdict = verdict_name(t.verdict);
    v.reason = t.reason;
    rows.push_back(std::move(v));
  }
  return rows;
}

History load_history(db::Database& db, const std::string& board, const std::string& config,
                     const std::string& metric, const ChangePointOptions& options) {
  History h;
  h.board = board;
  h.config = config;
  h.metric = metric;
  h.options = options;
  db::RunStore runs(db);
  std::set<std::string> known;
  for (const int64_t run_id : db::VerdictStore(db).ab_runs()) {
    const auto run = runs.run(run_id);
    const auto tests = evaluate(load_ab_jobs(db, run_id), load_verdict_params(db, run_id));
    for (const auto& t : tests) {
      known.insert(t.board + " " + t.config);
      if (t.board != board || t.config != config) continue;
      const bool wanted =
          metric.empty() ? (t.metric == "latency" || t.metric == "decode") : t.metric == metric;
      if (!wanted || !t.candidate_value) continue;
      if (h.metric.empty()) h.metric = t.metric;
      h.points.push_back({run_id, run ? run->started_at : "", t.candidate_version,
                          *t.candidate_value, t.method == "signed-rank" ? t.estimate : std::nullopt,
                          verdict_name(t.verdict)});
    }
  }
  if (h.points.empty()) {
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    throw ConfigError("no A/B run measured --board " + board + " --config " + config +
                      (metric.empty() ? "" : " --metric " + metric) +
                      (list.empty() ? " (the file holds no A/B runs)" : "; known: " + list));
  }
  std::vector<double> series;
  for (const auto& p : h.points) series.push_back(p.value);
  h.changes = change_points(series, options);
  return h;
}

std::string history_markdown(const History& h) {
  std::string md = "# History of " + h.board + " " + h.config + " " + h.metric + "\n\n";
  char line[200];
  std::snprintf(line, sizeof line,
                "%zu nightly estimates (the candidate arm's median round value per A/B run); "
                "E-divisive means with a t-test, p < %.3g, window %d, minimum segment %d.\n\n",
                h.points.size(), h.options.p, h.options.window, h.options.min_segment);
  md += line;
  if (h.changes.empty()) md += "**No change point.**\n\n";
  for (const auto& c : h.changes) {
    const auto& before = h.points[c.index - 1];
    const auto& after = h.points[c.index];
    std::snprintf(line, sizeof line, "%+.2f%%", (c.mean_after / c.mean_before - 1.0) * 100.0);
    md += "**Change point** between run " + std::to_string(before.run_id) + " (build `" +
          before.build + "`) and run " + std::to_string(after.run_id) + " (build `" + after.build +
          "`): mean " + value_text(h.metric, c.mean_before) + " -> " +
          value_text(h.metric, c.mean_after) + " (" + line + "), p " + pvalue(c.p) + "\n\n";
  }
  md += "| run | started | build | value | vs baseline | verdict |\n|---|---|---|---|---|---|\n";
  for (size_t i = 0; i < h.points.size(); ++i) {
    const auto& p = h.points[i];
    bool change = false;
    for (const auto& c : h.changes) change = change || c.index == i;
    md += "| " + std::to_string(p.run_id) + (change ? " ⟵ change" : "") + " | " + p.started_at +
          " | " + p.build + " | " + value_text(h.metric, p.value) + " | " + pct(p.ratio) + " | " +
          p.verdict + " |\n";
  }
  return md;
}

json history_json(const History& h) {
  json points = json::array(), changes = json::array();
  for (const auto& p : h.points)
    points.push_back({{"run", p.run_id},
                      {"started_at", p.started_at},
                      {"build", p.build},
                      {"value", p.value},
                      {"ratio", opt(p.ratio)},
                      {"verdict", p.verdict}});
  for (const auto& c : h.changes)
    changes.push_back({{"index", c.index},
                       {"run_before", h.points[c.index - 1].run_id},
                       {"build_before", h.points[c.index - 1].build},
                       {"run_after", h.points[c.index].run_id},
                       {"build_after", h.points[c.index].build},
                       {"mean_before", c.mean_before},
                       {"mean_after", c.mean_after},
                       {"p", c.p}});
  return {{"board", h.board}, {"config", h.config},         {"metric", h.metric},
          {"p", h.options.p}, {"window", h.options.window}, {"min_segment", h.options.min_segment},
          {"points", points}, {"change_points", changes}};
}

}  // namespace hilq::reports
