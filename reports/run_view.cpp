// Loads a run into a RunView (see run_view.h): the one place that decodes the DB's rows and parses
// their JSON blobs (job config, agent metrics, samples, board features).
#include "reports/run_view.h"

#include <cmath>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "db/run_store.h"

namespace hilq::reports {
namespace {

using nlohmann::json;

// A blob as JSON; null when absent or not valid JSON (a report never fails on one bad row).
json parse_blob(const std::optional<std::string>& text) {
  if (!text) return nullptr;
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? json(nullptr) : j;
}

// The value at a path of object keys, or nullptr when a step is missing.
const json* find_at(const json& j, std::initializer_list<const char*> path) {
  const json* at = &j;
  for (const char* key : path) {
    if (!at->is_object()) return nullptr;
    const auto it = at->find(key);
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return at;
}

std::optional<double> number_at(const json& j, std::initializer_list<const char*> path) {
  const json* v = find_at(j, path);
  if (!v || !v->is_number()) return std::nullopt;
  return v->get<double>();
}

std::optional<int64_t> integer_at(const json& j, std::initializer_list<const char*> path) {
  const json* v = find_at(j, path);
  if (!v || !v->is_number()) return std::nullopt;
  if (v->is_number_integer()) return v->get<int64_t>();
  return std::llround(v->get<double>());
}

std::optional<std::string> string_at(const json& j, std::initializer_list<const char*> path) {
  const json* v = find_at(j, path);
  if (!v || !v->is_string()) return std::nullopt;
  return v->get<std::string>();
}

JobKind job_kind_of(const std::string& kind) {
  if (kind == "kernel-bench") return JobKind::kKernelBench;
  if (kind == "model-bench") return JobKind::kModelBench;
  return JobKind::kOther;
}

// A model-bench row's setting: the label the agent's runtime gave the loaded model (its column,
// or the metrics of a row written without it), else the job config's setting or float baseline.
std::string model_setting(const db::MeasurementRow& row, const json& config, const json& metrics) {
  if (row.setting) return *row.setting;
  if (auto label = string_at(metrics, {"model_label"})) return *label;
  if (!config.is_object()) return "?";
  if (auto setting = string_at(config, {"setting"})) return *setting;
  if (auto weights = string_at(config, {"weights"})) return *weights == "fp16" ? "FP16" : "FP32";
  return "as stored";
}

Baseline baseline_of(const std::string& setting) {
  if (setting == "FP16") return Baseline::kFp16;
  if (setting == "FP32") return Baseline::kFp32;
  return Baseline::kNone;
}

KernelJob kernel_job_of(const json& config) {
  KernelJob k;
  k.op = string_at(config, {"op"});
  auto integer = [&](const char* key) -> std::optional<int64_t> {
    const json* v = find_at(config, {key});
    if (!v || !v->is_number_integer()) return std::nullopt;
    return v->get<int64_t>();
  };
  k.w_bits = integer("w_bits");
  k.a_bits = integer("a_bits");
  k.m = integer("m");
  k.k = integer("k");
  return k;
}

std::string label_of(const Measurement& m) {
  if (m.job_kind == JobKind::kModelBench) return "decode/token " + m.model.setting;
  const KernelJob& k = m.kernel_job;
  std::string label = k.op.value_or(m.kind);
  if (k.w_bits && k.a_bits)
    label += " w" + std::to_string(*k.w_bits) + "a" + std::to_string(*k.a_bits);
  if (k.m && k.k) label += " " + std::to_string(*k.m) + "×" + std::to_string(*k.k);
  return label;
}

// The figures have columns (db/measurement_store.h); a row written without them (a tool, a
// test) still has them in its metrics JSON.
ModelBench model_bench_of(const db::MeasurementRow& row, const json& config, const json& metrics) {
  ModelBench b;
  b.setting = model_setting(row, config, metrics);
  b.baseline = baseline_of(b.setting);
  b.prefill_ms = row.prefill_ms ? row.prefill_ms : number_at(metrics, {"prefill_ms"});
  if (auto p90_ns = number_at(metrics, {"prefill", "p90_ns"})) b.prefill_p90_ms = *p90_ns / 1e6;
  b.decode_median_ms = row.decode_ms_median ? row.decode_ms_median
                                            : number_at(metrics, {"decode_ms_per_token", "median"});
  b.decode_p90_ms =
      row.decode_ms_p90 ? row.decode_ms_p90 : number_at(metrics, {"decode_ms_per_token", "p90"});
  b.tokens_per_s = row.tokens_per_s ? row.tokens_per_s : number_at(metrics, {"tokens_per_s"});
  b.weights_bytes = row.setting && row.model_bytes
                        ? row.model_bytes
                        : integer_at(metrics, {"memory", "weights_bytes"});
  b.kv_cache_bytes =
      row.kv_bytes ? row.kv_bytes : integer_at(metrics, {"memory", "kv_cache_bytes"});
  return b;
}

// The one decoder of a measurements row. When the schema gives these figures their own columns,
// only this function changes.
Measurement measurement_of(db::MeasurementRow&& row) {
  Measurement m;
  m.run_id = row.run_id;
  m.job_id = std::move(row.job_id);
  m.board = std::move(row.board);
  m.agent = std::move(row.agent);
  m.kind = std::move(row.kind);
  m.job_kind = job_kind_of(m.kind);
  m.kernel = std::move(row.kernel);
  m.ok = row.status == "ok";
  m.status = std::move(row.status);
  m.error_class = std::move(row.error_class);
  m.error = std::move(row.error);
  m.latency = {row.latency_median_ns, row.latency_p10_ns,  row.latency_p90_ns,
               row.latency_mad_ns,    row.latency_mean_ns, row.repeats};
  m.peak_rss_bytes = row.peak_rss_bytes;
  m.model_bytes = row.model_bytes;
  m.energy = {row.energy_j, std::move(row.power_source), std::move(row.power_unavailable)};
  m.temperature_c = row.temperature_c;
  m.emulated = row.emulated;

  m.stored.config = parse_blob(row.config);
  m.stored.metrics = parse_blob(row.metrics);
  m.stored.samples_ns = parse_blob(row.samples_ns);
  const json& config = m.stored.config;
  const json& metrics = m.stored.metrics;
  if (const json* t = find_at(metrics, {"throttled"}); t && t->is_boolean())
    m.throttled = t->get<bool>();
  if (const json* r = find_at(metrics, {"throttle_reasons"}); r && r->is_array())
    for (const json& reason : *r)
      if (reason.is_string()) m.throttle_reasons.push_back(reason.get<std::string>());
  m.gops = number_at(metrics, {"gops"});
  m.kernel_job = kernel_job_of(config);
  if (m.job_kind == JobKind::kModelBench) m.model = model_bench_of(row, config, metrics);
  m.label = label_of(m);
  m.stored.config_text = std::move(row.config);
  m.stored.metrics_text = std::move(row.metrics);
  return m;
}

BoardInfo board_of(db::RunStore& store, const std::string& name) {
  BoardInfo b;
  b.name = name;
  const auto row = store.board(name);
  if (!row) return b;
  b.known = true;
  b.arch = row->arch;
  const json features = parse_blob(row->features);
  if (features.is_array())
    for (const json& f : features)
      if (f.is_string()) b.features.push_back(f.get<std::string>());
  b.cores = row->cores;
  b.memory_bytes = row->memory_bytes;
  b.agent_version = row->agent_version;
  b.emulated = row->emulated;
  return b;
}

}  // namespace

RunView load_run_view(db::Database& db, int64_t run_id) {
  db::RunStore store(db);
  auto run = store.run(run_id);
  if (!run) throw DbError("run " + std::to_string(run_id) + " is not in " + db.path());
  RunView view;
  view.run = {.id = run->id,
              .status = std::move(run->status),
              .message = std::move(run->message),
              .command_line = std::move(run->command_line),
              .git_sha = std::move(run->git_sha),
              .model_hash = std::move(run->model_hash),
              .started_at = std::move(run->started_at),
              .finished_at = std::move(run->finished_at)};
  for (auto& row : store.measurements(run_id))
    view.measurements.push_back(measurement_of(std::move(row)));
  for (auto& a : store.agents(run_id))
    view.agents.push_back({std::move(a.id), std::move(a.board), std::move(a.user_id),
                           std::move(a.status), std::move(a.reason)});
  auto add_board = [&](const std::string& name) {
    for (const auto& b : view.boards)
      if (b.name == name) return;
    view.boards.push_back(board_of(store, name));
  };
  for (const auto& m : view.measurements) add_board(m.board);
  for (const auto& a : view.agents) add_board(a.board);
  return view;
}

const Measurement* RunView::fp16_baseline(const std::string& board) const {
  const Measurement* found = nullptr;
  for (const auto& m : measurements)
    if (m.board == board && m.ok && m.job_kind == JobKind::kModelBench &&
        m.model.baseline == Baseline::kFp16)
      found = &m;
  return found;
}

std::optional<double> decode_speedup_over_fp16(const RunView& view, const Measurement& m) {
  if (m.emulated || m.job_kind != JobKind::kModelBench || !m.model.decode_median_ms)
    return std::nullopt;
  const Measurement* base = view.fp16_baseline(m.board);
  if (!base || !base->model.decode_median_ms) return std::nullopt;
  const double speedup = *base->model.decode_median_ms / *m.model.decode_median_ms;
  if (!std::isfinite(speedup)) return std::nullopt;
  return speedup;
}

}  // namespace hilq::reports
