// Event -> row mapping (see result_rows.h).
#include "host/result_rows.h"

#include <optional>

namespace hilq::host {
namespace {

namespace proto = hilq::protocol;
using nlohmann::json;

template <typename T>
std::optional<T> get_opt(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

}  // namespace

db::MeasurementRow measurement_row(int64_t run_id, const BrokerEvent& ev, const proto::Job& job,
                                   bool emulated) {
  db::MeasurementRow row;
  row.run_id = run_id;
  row.board = ev.board;
  row.agent = ev.agent_id;
  row.job_id = ev.job_id;
  row.kind = job.kind;
  row.config = job.config.dump();
  row.emulated = emulated;
  if (ev.kind == BrokerEvent::Kind::kJobError) {
    row.status = "failed";
    row.error_class = ev.error_class;
    row.error = ev.message;
    return row;
  }
  const json& m = ev.measurement;
  row.kernel = get_opt<std::string>(m, "kernel");
  if (auto it = m.find("latency"); it != m.end() && it->is_object()) {
    row.latency_median_ns = get_opt<double>(*it, "median_ns");
    row.latency_p10_ns = get_opt<double>(*it, "p10_ns");
    row.latency_p90_ns = get_opt<double>(*it, "p90_ns");
    row.latency_mad_ns = get_opt<double>(*it, "mad_ns");
    row.latency_mean_ns = get_opt<double>(*it, "mean_ns");
    row.repeats = get_opt<int64_t>(*it, "count");
  }
  if (auto it = m.find("samples_ns"); it != m.end() && it->is_array()) row.samples_ns = it->dump();
  row.peak_rss_bytes = get_opt<int64_t>(m, "peak_rss_bytes");
  row.model_bytes = get_opt<int64_t>(m, "model_bytes");
  if (!row.model_bytes) row.model_bytes = get_opt<int64_t>(m, "weight_bytes");
  if (auto it = m.find("power"); it != m.end() && it->is_object()) {
    if (get_opt<bool>(*it, "available").value_or(false))
      row.energy_j = get_opt<double>(*it, "energy_per_inference_j");
    row.power_source = get_opt<std::string>(*it, "source");
    if (!row.energy_j) row.power_unavailable = get_opt<std::string>(*it, "reason");
  }
  if (!row.energy_j && !row.power_unavailable)
    row.power_unavailable = "the agent reported no energy figure";
  row.temperature_c = get_opt<double>(m, "temperature_c");
  // Everything else the agent measured stays available, minus the bulky samples.
  json metrics = m;
  metrics.erase("samples_ns");
  metrics.erase("latency");
  metrics["attempt"] = ev.attempt;
  row.metrics = metrics.dump();
  if (!row.latency_median_ns) {
    row.status = "failed";
    row.error_class = proto::kErrorBadRequest;
    row.error = "RESULT carried no latency statistics";
  }
  return row;
}

std::string describe_result(const BrokerEvent& ev, const db::MeasurementRow& row) {
  char line[256];
  const json& m = ev.measurement;
  const auto prefill = get_opt<double>(m, "prefill_ms");
  const auto label = get_opt<std::string>(m, "model_label");
  if (row.kind == "model-bench" && prefill && label && m.contains("decode_ms_per_token")) {
    const json& d = m["decode_ms_per_token"];
    std::snprintf(line, sizeof line,
                  "%s, prefill %.2f ms, decode %.3f ms/token (p90 %.3f), weights %.2f MB",
                  label->c_str(), *prefill, get_opt<double>(d, "median").value_or(0),
                  get_opt<double>(d, "p90").value_or(0), row.model_bytes.value_or(0) / 1e6);
  } else {
    std::snprintf(line, sizeof line, "%s, median %.1f us", row.kernel.value_or("?").c_str(),
                  row.latency_median_ns.value_or(0) / 1e3);
  }
  return line;
}

std::string job_spec(const proto::Job& job) { return proto::make_message(job).body.dump(); }

proto::Job job_from_spec(const std::string& spec) {
  proto::Message m;
  m.type = proto::MessageType::kJob;
  m.body = json::parse(spec, nullptr, false);
  if (!m.body.is_object()) throw ProtocolError("stored job spec is not a JSON object");
  return proto::parse_job(m);
}

}  // namespace hilq::host
