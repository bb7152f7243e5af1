// Event -> row mapping (see result_rows.h).
#include "host/result_rows.h"

#include <optional>

namespace hilq::host {
namespace {

namespace proto = hilq::protocol;
using nlohmann::json;

void put_latency(db::MeasurementRow& row, const proto::LatencySummary& s) {
  row.latency_median_ns = s.median_ns;
  row.latency_p10_ns = s.p10_ns;
  row.latency_p90_ns = s.p90_ns;
  row.latency_mad_ns = s.mad_ns;
  row.latency_mean_ns = s.mean_ns;
  row.repeats = s.count;
}

void put_power(db::MeasurementRow& row, const std::optional<proto::PowerReading>& power,
               std::optional<double> energy_j, json& metrics) {
  if (power) {
    row.power_source = power->source.empty() ? std::nullopt : std::optional(power->source);
    if (!power->available) row.power_unavailable = power->reason;
    metrics["power"] = proto::to_json(*power);
  }
  row.energy_j = energy_j;
  if (!row.energy_j && !row.power_unavailable)
    row.power_unavailable = "the agent reported no energy figure";
  if (row.energy_j) row.power_unavailable.reset();
}

// A model-bench RESULT, decoded once into its named columns.
void fill_model_bench(db::MeasurementRow& row, const proto::ModelBenchResult& r, json& metrics) {
  put_latency(row, r.per_inference());
  row.setting = r.setting;
  row.kernel = r.kernel;
  row.kernel_path = r.kernel_path.empty() ? std::nullopt : std::optional(r.kernel_path);
  row.prefill_ms = r.prefill_ms;
  row.decode_ms_median = r.decode_ms_median;
  row.decode_ms_p90 = r.decode_ms_p90;
  row.tokens_per_s = r.tokens_per_s;
  row.model_bytes = r.weight_bytes;
  row.kv_bytes = r.kv_cache_bytes;
  row.arena_bytes = r.arena_bytes;
  row.peak_rss_bytes = r.peak_rss_bytes;
  row.temperature_c = r.temperature_c;
  row.energy_per_token_j = r.energy_per_token_j;
  metrics = r.extra;
  metrics["prefill"] = proto::to_json(r.prefill);  // statistics beyond the columns' median
  if (r.decode) metrics["decode"] = proto::to_json(*r.decode);
  put_power(row, r.power, r.energy_per_token_j, metrics);
  if (!r.energy_per_token_j) row.power_unavailable = r.energy_unavailable_reason;
}

void fill_kernel_bench(db::MeasurementRow& row, const proto::KernelBenchResult& r, json& metrics) {
  put_latency(row, r.latency);
  row.kernel = r.kernel.empty() ? std::nullopt : std::optional(r.kernel);
  row.kernel_path = r.isa.empty() ? std::nullopt : std::optional(r.isa);
  if (!r.samples_ns.empty()) row.samples_ns = json(r.samples_ns).dump();
  row.model_bytes = r.weight_bytes;
  row.peak_rss_bytes = r.peak_rss_bytes;
  row.temperature_c = r.temperature_c;
  metrics = r.extra;
  std::optional<double> energy;
  if (r.power && r.power->available) energy = r.power->energy_per_inference_j;
  put_power(row, r.power, energy, metrics);
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
  json metrics;
  try {
    if (job.kind == proto::kModelBenchKind)
      fill_model_bench(row, proto::decode_model_bench_result(ev.measurement), metrics);
    else
      fill_kernel_bench(row, proto::decode_kernel_bench_result(ev.measurement, job.kind), metrics);
  } catch (const ProtocolError& e) {
    db::MeasurementRow failed = row;
    failed.status = "failed";
    failed.error_class = proto::kErrorBadResult;
    failed.error = e.what();
    return failed;
  }
  metrics["attempt"] = ev.attempt;
  row.metrics = metrics.dump();
  return row;
}

std::string describe_result(const db::MeasurementRow& row) {
  char line[256];
  if (row.kind == proto::kModelBenchKind && row.prefill_ms) {
    std::snprintf(
        line, sizeof line, "%s, prefill %.2f ms, decode %.3f ms/token (p90 %.3f), weights %.2f MB",
        row.setting.value_or("?").c_str(), *row.prefill_ms, row.decode_ms_median.value_or(0),
        row.decode_ms_p90.value_or(0), row.model_bytes.value_or(0) / 1e6);
  } else {
    std::snprintf(line, sizeof line, "%s, median %.1f us", row.kernel.value_or("?").c_str(),
                  row.latency_median_ns.value_or(0) / 1e3);
  }
  return line;
}

// The JOB as stored in jobs.spec: everything but the config, which jobs.config holds.
std::string job_spec(const proto::Job& job) {
  json body = proto::make_message(job).body;
  body.erase("config");
  return body.dump();
}

proto::Job job_from_spec(const std::string& spec, const std::string& config) {
  proto::Message m;
  m.type = proto::MessageType::kJob;
  m.body = json::parse(spec, nullptr, false);
  if (!m.body.is_object()) throw ProtocolError("stored job spec is not a JSON object");
  if (!m.body.contains("config")) m.body["config"] = json::parse(config, nullptr, false);
  return proto::parse_job(m);
}

}  // namespace hilq::host
