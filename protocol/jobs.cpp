// Typed job configs and results and their JSON form (see jobs.h).
#include "protocol/jobs.h"

#include <cmath>
#include <initializer_list>
#include <limits>

#include "base/error.h"
#include "base/json_reader.h"

namespace hilq::protocol {
namespace {

using nlohmann::json;

// Optional fields of a result: absent or null gives nothing; present must be valid.
constexpr double kMaxDouble = std::numeric_limits<double>::max();
constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();
// A result's names and reasons are labels, not payloads.
constexpr size_t kMaxResultStringBytes = 4096;
// Thermal zones report from about -40 C (cold start outdoors) to about 125 C (junction limits);
// outside [-100, 200] C no sensor of a working board reads.
constexpr double kMinTemperatureC = -100, kMaxTemperatureC = 200;

// Optional fields of a result: absent or null gives nothing; present must be valid, in [lo, hi].
std::optional<double> opt_number(const JsonReader& r, const char* key, double lo = -kMaxDouble,
                                 double hi = kMaxDouble) {
  if (!r.has(key) || r.json().at(key).is_null()) return std::nullopt;
  return r.number(key, lo, hi);
}

// Integers are range-checked as JSON integers before any conversion: a float or a value beyond
// int64 is refused, never cast.
std::optional<int64_t> opt_integer(const JsonReader& r, const char* key, int64_t lo = 0,
                                   int64_t hi = kMaxInt64) {
  if (!r.has(key) || r.json().at(key).is_null()) return std::nullopt;
  return r.integer(key, lo, hi);
}

std::string opt_string(const JsonReader& r, const char* key) {
  if (!r.has(key) || r.json().at(key).is_null()) return {};
  return r.string(key, kMaxResultStringBytes);
}

// A latency (or a time per token): finite and above zero.
double positive(const JsonReader& r, const char* key) {
  const double v = r.number(key);
  if (!(v > 0)) r.fail(key, "must be > 0 (a latency cannot be zero or negative)");
  return v;
}

std::optional<double> opt_positive(const JsonReader& r, const char* key) {
  if (!r.has(key) || r.json().at(key).is_null()) return std::nullopt;
  return positive(r, key);
}

std::optional<double> opt_temperature(const JsonReader& r, const char* key) {
  return opt_number(r, key, kMinTemperatureC, kMaxTemperatureC);
}

// The fields beyond the typed ones are stored as they came (metrics JSON): bounded in size.
void check_extra_size(const JsonReader& r, const json& extra) {
  if (extra.dump().size() <= kMaxResultExtraBytes) return;
  std::string biggest;
  size_t biggest_bytes = 0;
  for (const auto& [key, value] : extra.items()) {
    const size_t bytes = value.dump().size();
    if (bytes >= biggest_bytes) {
      biggest = key;
      biggest_bytes = bytes;
    }
  }
  r.fail(biggest.c_str(), "takes " + std::to_string(biggest_bytes) +
                              " bytes; the untyped fields of a result may take at most " +
                              std::to_string(kMaxResultExtraBytes) + " bytes in all");
}

JsonReader result_reader(const json& m, const std::string& kind) {
  return JsonReader(m, "RESULT " + kind, ErrorCategory::kProtocol);
}

LatencySummary read_latency(const JsonReader& r) {
  LatencySummary s;
  s.median_ns = positive(r, "median_ns");
  s.p10_ns = opt_positive(r, "p10_ns").value_or(s.median_ns);
  s.p90_ns = opt_positive(r, "p90_ns").value_or(s.median_ns);
  if (s.p90_ns < s.p10_ns) r.fail("p90_ns", "must be >= p10_ns (" + std::to_string(s.p10_ns) + ")");
  s.mad_ns = opt_number(r, "mad_ns", 0).value_or(0);
  s.mean_ns = opt_positive(r, "mean_ns").value_or(s.median_ns);
  s.min_ns = opt_positive(r, "min_ns").value_or(s.p10_ns);
  s.max_ns = opt_positive(r, "max_ns").value_or(s.p90_ns);
  s.count = opt_integer(r, "count", 1).value_or(1);
  return s;
}

PowerReading read_power(const JsonReader& r) {
  PowerReading p;
  p.available = r.boolean("available");
  p.source = p.available ? r.string("source") : opt_string(r, "source");
  if (!p.available) {
    p.reason = opt_string(r, "reason");
    if (p.reason.empty()) p.reason = "the agent gave no reason";
    return p;
  }
  p.method = opt_string(r, "method");
  p.idle_w = opt_number(r, "idle_w", 0).value_or(0);
  p.window_w = opt_number(r, "window_w", 0).value_or(0);
  p.window_s = opt_number(r, "window_s", 0).value_or(0);
  p.energy_j = opt_number(r, "energy_j", 0).value_or(0);
  p.energy_per_inference_j = opt_number(r, "energy_per_inference_j", 0);
  return p;
}

void erase_keys(json& j, std::initializer_list<const char*> keys) {
  for (const char* k : keys) j.erase(k);
}

}  // namespace

json to_json(const ModelBenchConfig& c) {
  json j = {{"prompt_tokens", c.prompt_tokens},
            {"decode_tokens", c.decode_tokens},
            {"threads", c.threads}};
  switch (c.setting.kind()) {
    case model::SettingKind::kFp32:
      j["weights"] = "fp32";
      break;
    case model::SettingKind::kFp16:
      j["weights"] = "fp16";
      break;
    case model::SettingKind::kAsStored:
      break;
    case model::SettingKind::kQuantized:
      j["setting"] = c.setting.label();
      break;
  }
  return j;
}

json to_json(const LatencySummary& s) {
  return {{"median_ns", s.median_ns}, {"p10_ns", s.p10_ns},   {"p90_ns", s.p90_ns},
          {"mad_ns", s.mad_ns},       {"mean_ns", s.mean_ns}, {"min_ns", s.min_ns},
          {"max_ns", s.max_ns},       {"count", s.count}};
}

json to_json(const PowerReading& p) {
  if (!p.available) {
    json j = {{"available", false}, {"reason", p.reason}};
    if (!p.source.empty()) j["source"] = p.source;
    return j;
  }
  json j = {{"available", true},     {"source", p.source},     {"method", p.method},
            {"idle_w", p.idle_w},    {"window_w", p.window_w}, {"window_s", p.window_s},
            {"energy_j", p.energy_j}};
  if (p.energy_per_inference_j) j["energy_per_inference_j"] = *p.energy_per_inference_j;
  return j;
}

json to_json(const KernelBenchResult& r) {
  json j = r.extra.is_object() ? r.extra : json::object();
  j["kernel"] = r.kernel;
  if (!r.isa.empty()) j["isa"] = r.isa;
  j["latency"] = to_json(r.latency);
  j["samples_ns"] = r.samples_ns;
  if (r.weight_bytes) j["weight_bytes"] = *r.weight_bytes;
  if (r.peak_rss_bytes) j["peak_rss_bytes"] = *r.peak_rss_bytes;
  if (r.temperature_c) j["temperature_c"] = *r.temperature_c;
  if (r.power) j["power"] = to_json(*r.power);
  return j;
}

json to_json(const ModelBenchResult& r) {
  json j = r.extra.is_object() ? r.extra : json::object();
  j["model_label"] = r.setting;
  j["model_kind"] = r.model_kind;
  j["prefill_ms"] = r.prefill_ms;
  j["prefill"] = to_json(r.prefill);
  if (r.decode) {
    j["decode"] = to_json(*r.decode);
    j["decode_ms_per_token"] = {{"median", r.decode_ms_median.value_or(0)},
                                {"p90", r.decode_ms_p90.value_or(0)}};
  } else {
    j["decode"] = nullptr;
    j["decode_ms_per_token"] = nullptr;
  }
  if (r.tokens_per_s) j["tokens_per_s"] = *r.tokens_per_s;
  json& memory = j["memory"];
  if (!memory.is_object()) memory = json::object();
  memory["weights_bytes"] = r.weight_bytes;
  memory["kv_cache_bytes"] = r.kv_cache_bytes;
  memory["arena_bytes"] = r.arena_bytes;
  j["model_bytes"] = r.weight_bytes;
  if (r.peak_rss_bytes) j["peak_rss_bytes"] = *r.peak_rss_bytes;
  if (r.energy_per_token_j)
    j["energy_per_token_j"] = *r.energy_per_token_j;
  else
    j["energy_unavailable_reason"] = r.energy_unavailable_reason;
  j["kernel"] = r.kernel;
  j["isa"] = r.kernel_path;
  if (r.temperature_c) j["temperature_c"] = *r.temperature_c;
  if (r.power) j["power"] = to_json(*r.power);
  return j;
}

LatencySummary decode_latency(const json& stats, const std::string& kind,
                              const std::string& field) {
  return read_latency(JsonReader(stats, "RESULT " + kind, ErrorCategory::kProtocol, field + "."));
}

PowerReading decode_power(const json& power, const std::string& kind) {
  return read_power(JsonReader(power, "RESULT " + kind, ErrorCategory::kProtocol, "power."));
}

KernelBenchResult decode_kernel_bench_result(const json& m, const std::string& kind) {
  const JsonReader r = result_reader(m, kind);
  KernelBenchResult out;
  if (!r.has("latency")) r.fail("latency", "is missing (the RESULT carried no latency statistics)");
  out.latency = read_latency(r.object("latency"));
  out.kernel = opt_string(r, "kernel");
  out.isa = opt_string(r, "isa");
  if (r.has("samples_ns") && !m.at("samples_ns").is_null()) {
    const json& samples = r.array("samples_ns", kMaxResultSamples);
    out.samples_ns.reserve(samples.size());
    for (const json& v : samples) {
      if (!v.is_number()) r.fail("samples_ns", "must be an array of numbers");
      const double x = v.get<double>();
      if (!std::isfinite(x) || x <= 0)
        r.fail("samples_ns", "must hold finite latencies > 0, not " + v.dump());
      out.samples_ns.push_back(x);
    }
  }
  out.weight_bytes = opt_integer(r, "weight_bytes");
  out.peak_rss_bytes = opt_integer(r, "peak_rss_bytes");
  out.temperature_c = opt_temperature(r, "temperature_c");
  if (r.has("power") && !m.at("power").is_null()) out.power = read_power(r.object("power"));
  out.extra = m;
  erase_keys(out.extra, {"kernel", "isa", "latency", "samples_ns", "weight_bytes", "peak_rss_bytes",
                         "temperature_c", "power"});
  check_extra_size(r, out.extra);
  return out;
}

ModelBenchResult decode_model_bench_result(const json& m) {
  const JsonReader r = result_reader(m, kModelBenchKind);
  ModelBenchResult out;
  out.setting = r.string("model_label", kMaxResultStringBytes);
  out.model_kind = r.string_or("model_kind", "causal_lm");
  if (out.model_kind != "causal_lm" && out.model_kind != "classifier")
    r.fail("model_kind", "must be \"causal_lm\" or \"classifier\"");
  out.prefill_ms = positive(r, "prefill_ms");
  out.prefill = read_latency(r.object("prefill"));
  if (out.model_kind == "causal_lm") {
    out.decode = read_latency(r.object("decode"));
    const JsonReader d = r.object("decode_ms_per_token");
    out.decode_ms_median = positive(d, "median");
    out.decode_ms_p90 = positive(d, "p90");
    if (*out.decode_ms_p90 < *out.decode_ms_median)
      d.fail("p90", "must be >= the median (" + std::to_string(*out.decode_ms_median) + ")");
    out.tokens_per_s = opt_positive(r, "tokens_per_s");
  }
  const JsonReader memory = r.object("memory");
  out.weight_bytes = memory.integer("weights_bytes", 0);
  out.kv_cache_bytes = memory.integer("kv_cache_bytes", 0);
  out.arena_bytes = memory.integer("arena_bytes", 0);
  out.peak_rss_bytes = opt_integer(r, "peak_rss_bytes");
  out.kernel = opt_string(r, "kernel");
  out.kernel_path = opt_string(r, "isa");
  out.temperature_c = opt_temperature(r, "temperature_c");
  if (r.has("power") && !m.at("power").is_null()) out.power = read_power(r.object("power"));
  out.energy_per_token_j = opt_number(r, "energy_per_token_j", 0);
  if (!out.energy_per_token_j) {
    out.energy_unavailable_reason = opt_string(r, "energy_unavailable_reason");
    if (out.energy_unavailable_reason.empty() && out.power && !out.power->available)
      out.energy_unavailable_reason = out.power->reason;
    if (out.energy_unavailable_reason.empty())
      out.energy_unavailable_reason = "the agent reported no energy figure";
  }
  out.extra = m;
  erase_keys(out.extra,
             {"model_label", "model_kind", "prefill_ms", "prefill", "decode", "decode_ms_per_token",
              "tokens_per_s", "model_bytes", "peak_rss_bytes", "kernel", "isa", "temperature_c",
              "power", "energy_per_token_j", "energy_unavailable_reason", "latency"});
  erase_keys(out.extra["memory"], {"weights_bytes", "kv_cache_bytes", "arena_bytes"});
  check_extra_size(r, out.extra);
  return out;
}

void check_result(const std::string& kind, const json& measurement) {
  if (kind == kModelBenchKind)
    (void)decode_model_bench_result(measurement);
  else
    (void)decode_kernel_bench_result(measurement, kind);
}

}  // namespace hilq::protocol
