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

}  // namespace

void JsonReporter::report(const RunView& view, std::ostream& out) const {
  json all = {{"run",
               {{"id", view.run.id},
                {"status", view.run.status},
                {"command_line", view.run.command_line},
                {"started_at", view.run.started_at}}},
              {"measurements", json::array()}};
  for (const auto& m : view.measurements) all["measurements"].push_back(measurement_json(m));
  out << all.dump(2) << "\n";
}

}  // namespace hilq::reports
