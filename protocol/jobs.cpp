// Typed job configs and results and their JSON form (see jobs.h).
#include "protocol/jobs.h"

#include <initializer_list>

#include "base/error.h"

namespace hilq::protocol {
namespace {

using nlohmann::json;

// Decoding context: the message kind and the path to the current object, for error messages.
struct Reader {
  const json& j;
  std::string kind;
  std::string prefix;  // "" or "memory."

  [[noreturn]] void fail(const std::string& name, const std::string& rule) const {
    throw ProtocolError("RESULT " + kind + ": field '" + prefix + name + "' " + rule);
  }
  const json* find(const char* name) const {
    auto it = j.find(name);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  }
  const json& need(const char* name) const {
    const json* v = find(name);
    if (!v) fail(name, "is missing");
    return *v;
  }
  double number(const char* name) const {
    const json& v = need(name);
    if (!v.is_number()) fail(name, "must be a number");
    return v.get<double>();
  }
  std::optional<double> opt_number(const char* name) const {
    const json* v = find(name);
    if (!v) return std::nullopt;
    if (!v->is_number()) fail(name, "must be a number");
    return v->get<double>();
  }
  int64_t integer(const char* name) const {
    const json& v = need(name);
    if (!v.is_number_integer()) fail(name, "must be an integer");
    return v.get<int64_t>();
  }
  std::optional<int64_t> opt_integer(const char* name) const {
    const json* v = find(name);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) fail(name, "must be an integer");
    return v->get<int64_t>();
  }
  std::string text(const char* name, bool required) const {
    const json* v = find(name);
    if (!v) {
      if (required) fail(name, "is missing");
      return {};
    }
    if (!v->is_string()) fail(name, "must be a string");
    return v->get<std::string>();
  }
  const json& object(const char* name) const {
    const json& v = need(name);
    if (!v.is_object()) fail(name, "must be a JSON object");
    return v;
  }
};

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
  const Reader r{stats, kind, field + "."};
  LatencySummary s;
  s.median_ns = r.number("median_ns");
  s.p10_ns = r.opt_number("p10_ns").value_or(s.median_ns);
  s.p90_ns = r.opt_number("p90_ns").value_or(s.median_ns);
  s.mad_ns = r.opt_number("mad_ns").value_or(0);
  s.mean_ns = r.opt_number("mean_ns").value_or(s.median_ns);
  s.min_ns = r.opt_number("min_ns").value_or(s.p10_ns);
  s.max_ns = r.opt_number("max_ns").value_or(s.p90_ns);
  s.count = r.opt_integer("count").value_or(1);
  return s;
}

PowerReading decode_power(const json& power, const std::string& kind) {
  const Reader r{power, kind, "power."};
  PowerReading p;
  const json& available = r.need("available");
  if (!available.is_boolean()) r.fail("available", "must be true or false");
  p.available = available.get<bool>();
  p.source = r.text("source", p.available);
  if (!p.available) {
    p.reason = r.text("reason", false);
    if (p.reason.empty()) p.reason = "the agent gave no reason";
    return p;
  }
  p.method = r.text("method", false);
  p.idle_w = r.opt_number("idle_w").value_or(0);
  p.window_w = r.opt_number("window_w").value_or(0);
  p.window_s = r.opt_number("window_s").value_or(0);
  p.energy_j = r.opt_number("energy_j").value_or(0);
  p.energy_per_inference_j = r.opt_number("energy_per_inference_j");
  return p;
}

KernelBenchResult decode_kernel_bench_result(const json& m, const std::string& kind) {
  if (!m.is_object()) throw ProtocolError("RESULT " + kind + ": measurement must be an object");
  const Reader r{m, kind, ""};
  KernelBenchResult out;
  const json* latency = r.find("latency");
  if (!latency) r.fail("latency", "is missing (the RESULT carried no latency statistics)");
  if (!latency->is_object()) r.fail("latency", "must be a JSON object");
  out.latency = decode_latency(*latency, kind, "latency");
  out.kernel = r.text("kernel", false);
  out.isa = r.text("isa", false);
  if (const json* s = r.find("samples_ns"); s && s->is_array()) {
    for (const json& v : *s) {
      if (!v.is_number()) r.fail("samples_ns", "must be an array of numbers");
      out.samples_ns.push_back(v.get<double>());
    }
  }
  out.weight_bytes = r.opt_integer("weight_bytes");
  out.peak_rss_bytes = r.opt_integer("peak_rss_bytes");
  out.temperature_c = r.opt_number("temperature_c");
  if (const json* p = r.find("power")) {
    if (!p->is_object()) r.fail("power", "must be a JSON object");
    out.power = decode_power(*p, kind);
  }
  out.extra = m;
  erase_keys(out.extra, {"kernel", "isa", "latency", "samples_ns", "weight_bytes", "peak_rss_bytes",
                         "temperature_c", "power"});
  return out;
}

ModelBenchResult decode_model_bench_result(const json& m) {
  const std::string kind = kModelBenchKind;
  if (!m.is_object()) throw ProtocolError("RESULT " + kind + ": measurement must be an object");
  const Reader r{m, kind, ""};
  ModelBenchResult out;
  out.setting = r.text("model_label", true);
  out.model_kind = r.text("model_kind", false);
  if (out.model_kind.empty()) out.model_kind = "causal_lm";
  if (out.model_kind != "causal_lm" && out.model_kind != "classifier")
    r.fail("model_kind", "must be \"causal_lm\" or \"classifier\"");
  out.prefill_ms = r.number("prefill_ms");
  out.prefill = decode_latency(r.object("prefill"), kind, "prefill");
  if (out.model_kind == "causal_lm") {
    out.decode = decode_latency(r.object("decode"), kind, "decode");
    const Reader d{r.object("decode_ms_per_token"), kind, "decode_ms_per_token."};
    out.decode_ms_median = d.number("median");
    out.decode_ms_p90 = d.number("p90");
    out.tokens_per_s = r.opt_number("tokens_per_s");
  }
  const Reader mem{r.object("memory"), kind, "memory."};
  out.weight_bytes = mem.integer("weights_bytes");
  out.kv_cache_bytes = mem.integer("kv_cache_bytes");
  out.arena_bytes = mem.integer("arena_bytes");
  out.peak_rss_bytes = r.opt_integer("peak_rss_bytes");
  out.kernel = r.text("kernel", false);
  out.kernel_path = r.text("isa", false);
  out.temperature_c = r.opt_number("temperature_c");
  if (const json* p = r.find("power")) {
    if (!p->is_object()) r.fail("power", "must be a JSON object");
    out.power = decode_power(*p, kind);
  }
  out.energy_per_token_j = r.opt_number("energy_per_token_j");
  if (!out.energy_per_token_j) {
    out.energy_unavailable_reason = r.text("energy_unavailable_reason", false);
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
  json& memory = out.extra["memory"];
  erase_keys(memory, {"weights_bytes", "kv_cache_bytes", "arena_bytes"});
  return out;
}

}  // namespace hilq::protocol
