// measurements.json (see json_reporter.h).
#include "reports/json_reporter.h"

namespace hilq::reports {
namespace {

using nlohmann::json;

template <typename T>
json or_null(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

json measurement_json(const Measurement& m) {
  return {{"job_id", m.job_id},
          {"board", m.board},
          {"agent", m.agent.value_or("")},
          {"kind", m.kind},
          {"kernel", m.kernel.value_or("")},
          {"status", m.status},
          {"config", m.stored.config},
          {"metrics", m.stored.metrics},
          {"samples_ns", m.stored.samples_ns},
          {"emulated", m.emulated},
          {"error_class", or_null(m.error_class)},
          {"error", or_null(m.error)},
          {"latency_median_ns", or_null(m.latency.median)},
          {"latency_p10_ns", or_null(m.latency.p10)},
          {"latency_p90_ns", or_null(m.latency.p90)},
          {"latency_mad_ns", or_null(m.latency.mad)},
          {"latency_mean_ns", or_null(m.latency.mean)},
          {"repeats", or_null(m.latency.repeats)},
          {"peak_rss_bytes", or_null(m.peak_rss_bytes)},
          {"model_bytes", or_null(m.model_bytes)},
          {"energy_j", or_null(m.energy.joules)},
          {"power_source", or_null(m.energy.source)},
          {"power_unavailable", or_null(m.energy.unavailable)}};
}

json search_json(const RunView& view) {
  const SearchView& s = *view.search;
  json counts = json::object();
  for (const auto& [status, n] : s.status_counts) counts[status] = n;
  json reasons = json::array();
  for (const auto& [reason, n] : s.pruned_reasons)
    reasons.push_back({{"reason", reason}, {"count", n}});
  json candidates = json::array();
  for (const auto& c : s.candidates) {
    json measured = json::array();
    for (const Measurement* m : view.candidate_measurements(c.id))
      measured.push_back({{"board", m->board},
                          {"job_id", m->job_id},
                          {"status", m->status},
                          {"emulated", m->emulated},
                          {"decode_ms_median", or_null(m->model.decode_median_ms)},
                          {"decode_ms_p90", or_null(m->model.decode_p90_ms)},
                          {"prefill_ms", or_null(m->model.prefill_ms)},
                          {"model_bytes", or_null(m->model_bytes)},
                          {"peak_rss_bytes", or_null(m->peak_rss_bytes)},
                          {"energy_per_token_j", or_null(m->model.energy_per_token_j)},
                          {"power_unavailable", or_null(m->energy.unavailable)}});
    candidates.push_back({{"id", c.id},
                          {"label", c.label},
                          {"tier", c.tier},
                          {"parent_id", or_null(c.parent_id)},
                          {"status", c.status},
                          {"reason", or_null(c.reason)},
                          {"config_hash", c.config_hash},
                          {"artifact_sha256", or_null(c.artifact_sha256)},
                          {"memory_bytes", or_null(c.memory_bytes)},
                          {"config", c.config},
                          {"validation", or_null(c.validation)},
                          {"test", or_null(c.test)},
                          {"measurements", measured}});
  }
  json boards = json::array();
  for (const auto& b : s.boards) {
    json fronts = json::object();
    for (const auto& [pair, ids] : b.fronts) fronts[pair] = ids;
    json pick = nullptr;
    if (b.pick)
      pick = {{"rule", b.pick->rule},
              {"candidate_id", b.pick->candidate_id},
              {"score", or_null(b.pick->score)}};
    boards.push_back(
        {{"board", b.board}, {"emulated", b.emulated}, {"fronts", fronts}, {"pick", pick}});
  }
  return {{"constraints", s.constraints.stored},
          {"metric", s.constraints.metric},
          {"summary",
           {{"candidates", s.candidates.size()},
            {"scored", s.scored},
            {"status_counts", counts},
            {"pruned_reasons", reasons}}},
          {"candidates", candidates},
          {"boards", boards}};
}

}  // namespace

void JsonReporter::report(const RunView& view, std::ostream& out) const {
  json all = {{"run",
               {{"id", view.run.id},
                {"status", view.run.status},
                {"command_line", view.run.command_line},
                {"started_at", view.run.started_at}}},
              {"measurements", json::array()}};
  for (const auto& m : view.measurements) all["measurements"].push_back(measurement_json(m));
  if (view.search) all["search"] = search_json(view);
  out << all.dump(2) << "\n";
}

}  // namespace hilq::reports
