// model-bench job runner (see model_bench.h).
#include "agent/model_bench.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>

#include "agent/kernel_bench.h"
#include "agent/measure.h"
#include "kernels/isa.h"
#include "kernels/mkmp.h"
#include "runtime/bench.h"
#include "runtime/model.h"

namespace hilq::agent {
namespace {

using nlohmann::json;
namespace rt = hilq::runtime;

int get_int(const json& config, const char* name, int lo, int hi, int fallback) {
  auto it = config.find(name);
  if (it == config.end()) return fallback;
  if (!it->is_number_integer()) {
    throw BadJobConfig(std::string("config field '") + name + "' must be an integer");
  }
  const auto v = it->get<int64_t>();
  if (v < lo || v > hi) {
    throw BadJobConfig(std::string("config field '") + name + "' is " + std::to_string(v) +
                       ", outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return static_cast<int>(v);
}

std::string get_string(const json& config, const char* name) {
  auto it = config.find(name);
  if (it == config.end()) return {};
  if (!it->is_string())
    throw BadJobConfig(std::string("config field '") + name + "' must be a string");
  return it->get<std::string>();
}

void check_fields(const json& config) {
  static const char* kKnown[] = {"model",         "model_path",    "weights",       "quant_config",
                                 "float_storage", "prompt_tokens", "decode_tokens", "context",
                                 "threads",       "isa",           "int4",          "seed",
                                 "setting"};
  if (!config.is_object()) throw BadJobConfig("config must be a JSON object");
  for (auto it = config.begin(); it != config.end(); ++it) {
    bool known = false;
    for (const char* k : kKnown) known = known || it.key() == k;
    if (!known) throw BadJobConfig("config field '" + it.key() + "' is not a model-bench field");
  }
}

double ms(double ns) { return ns * 1e-6; }

}  // namespace

protocol::ModelBenchResult measure_model(const json& config, const protocol::RepeatPolicy& repeat,
                                         bool artifact_verified, double test_slowdown) {
  check_fields(config);
  std::string path = get_string(config, "model");
  if (path.empty()) path = get_string(config, "model_path");
  if (path.empty()) throw BadJobConfig("config field 'model' (the artifact's path) is missing");
  if (std::error_code ec; std::filesystem::is_directory(path, ec))
    throw BadJobConfig("config field 'model' = '" + path +
                       "' is a directory, not a model file (give the .safetensors file itself)");
  rt::LoadOptions lo;
  lo.verify_hash = !artifact_verified;  // the artifact cache verified the whole file on arrival
  try {
    lo.weights = rt::weights_mode_from_name(get_string(config, "weights"));
  } catch (const rt::ConfigError& e) {
    throw BadJobConfig(std::string("config field 'weights': ") + e.what());
  }
  const std::string fs = get_string(config, "float_storage");
  if (!fs.empty() && fs != "fp32" && fs != "fp16") {
    throw BadJobConfig("config field 'float_storage' must be \"fp32\" or \"fp16\"");
  }
  lo.float_fp16 = fs == "fp16";
  if (auto it = config.find("quant_config"); it != config.end() && !it->is_null()) {
    lo.quant_config = it->is_string() ? it->get<std::string>() : it->dump();
  }
  if (const std::string s = get_string(config, "setting"); !s.empty()) {
    try {
      lo.setting = model::Setting::parse(s);
    } catch (const rt::ConfigError& e) {
      throw BadJobConfig(std::string("config field 'setting': ") + e.what());
    }
  }
  if (lo.setting && !lo.quant_config.empty())
    throw BadJobConfig("config fields 'setting' and 'quant_config' are alternatives; give one");
  rt::BenchOptions bo;
  bo.prompt_tokens = get_int(config, "prompt_tokens", 1, 1 << 16,
                             protocol::ModelBenchConfig::kDefaultPromptTokens);
  bo.decode_tokens = get_int(config, "decode_tokens", 0, 1 << 16,
                             protocol::ModelBenchConfig::kDefaultDecodeTokens);
  bo.seed = static_cast<uint64_t>(get_int(config, "seed", 0, 1 << 30, 1));
  bo.warmup = repeat.warmup;
  bo.min_runs = std::max(1, repeat.min_repeats);
  bo.max_runs = std::max(bo.min_runs, repeat.max_repeats);
  bo.min_time_s = repeat.min_time_s;
  bo.test_slowdown = test_slowdown;
  const int context = get_int(config, "context", 0, 1 << 22, 0);
  if (context && context < bo.prompt_tokens + bo.decode_tokens) {
    throw BadJobConfig("config field 'context' " + std::to_string(context) +
                       " is smaller than prompt_tokens + decode_tokens");
  }
  kernels::ContextOptions co;
  co.threads = get_int(config, "threads", 1, 256, protocol::ModelBenchConfig::kDefaultThreads);
  co.isa = get_string(config, "isa");
  if (!co.isa.empty() && !kernels::isa_from_name(co.isa)) {
    throw BadJobConfig("config field 'isa' must be a kernel path name (ref, avx2, neon, ...)");
  }
  co.int4 = get_string(config, "int4");
  if (!co.int4.empty() && co.int4 != "dot" && co.int4 != "cat") {
    throw BadJobConfig("config field 'int4' must be \"dot\" or \"cat\"");
  }

  const bool rss_reset = reset_peak_rss();
  rt::Model model;
  try {
    model = rt::Model::load(path, lo);
  } catch (const rt::ModelError& e) {
    throw BadModelArtifact(e.what());
  } catch (const rt::ConfigError& e) {
    throw BadJobConfig(e.what());
  }
  kernels::Context ctx(co);
  const rt::BenchResult r = rt::run_bench(model, ctx, bo);
  const PeakRss rss = read_peak_rss(rss_reset);
  const bool lm = model.arch().kind == rt::ModelKind::kCausalLm;
  protocol::ModelBenchResult out;
  out.setting = model.label();
  out.model_kind = lm ? "causal_lm" : "classifier";
  out.prefill = latency_stats(r.prefill_ns);
  out.prefill_ms = ms(out.prefill.median_ns);
  if (lm) {
    out.decode = latency_stats(r.decode_ns);
    out.decode_ms_median = ms(out.decode->median_ns);
    out.decode_ms_p90 = ms(out.decode->p90_ns);
    out.tokens_per_s = out.decode->median_ns > 0 ? 1e9 / out.decode->median_ns : 0.0;
  }
  out.weight_bytes = model.weight_bytes();
  out.kv_cache_bytes = r.memory.kv_cache_bytes;
  out.arena_bytes = r.memory.arena_bytes;
  out.peak_rss_bytes = rss.bytes;
  out.kernel = r.kernels;
  out.kernel_path = kernels::isa_name(ctx.isa());
  out.energy_unavailable_reason =
      "run_model_bench measures no power; the worker wraps it in measure_with_power "
      "(run_model_bench_measured)";
  out.power = protocol::PowerReading{};
  out.power->reason = out.energy_unavailable_reason;
  out.extra = {
      {"model", path},
      {"model_format", model.format()},
      {"model_data_sha256", model.data_sha256()},
      {"weights",
       get_string(config, "weights").empty() ? "as-stored" : get_string(config, "weights")},
      {"int4", kernels::int4_variant_name(ctx.int4_variant())},
      {"threads", ctx.threads()},
      {"prompt_tokens", bo.prompt_tokens},
      {"decode_tokens", lm ? bo.decode_tokens : 0},
      {"context", r.context},
      {"runs", r.runs},
      {"samples_ns", {{"prefill", r.prefill_ns}, {"decode", r.decode_ns}}},
      {"thread_cpu",
       {{"prefill", to_json(latency_stats(r.prefill_cpu_ns))},
        {"decode", to_json(latency_stats(r.decode_cpu_ns))},
        {"note",
         "CLOCK_THREAD_CPUTIME_ID of the measuring thread: wall minus time other processes "
         "held the core; only that thread's work (meaningful with threads = 1)"}}},
      {"greedy_tokens", r.tokens},
      {"memory",
       {{"file_bytes", model.file_bytes()},
        {"peak_rss_bytes", rss.bytes},
        {"peak_rss_method", rss.method}}},
  };
  if (!lm) out.extra["decode_note"] = "classifier: one forward per input, no decode";
  if (test_slowdown > 0) out.extra["test_slowdown_pct"] = test_slowdown * 100;
  return out;
}

json run_model_bench(const json& config, const protocol::RepeatPolicy& repeat,
                     bool artifact_verified) {
  return protocol::to_json(measure_model(config, repeat, artifact_verified));
}

json run_model_bench_measured(const json& config, const protocol::RepeatPolicy& repeat,
                              PowerSensor* sensor, const std::string& unavailable_reason,
                              double idle_s, bool artifact_verified, double test_slowdown) {
  protocol::ModelBenchResult out;
  const json power = measure_with_power(sensor, unavailable_reason, idle_s, [&] {
    out = measure_model(config, repeat, artifact_verified, test_slowdown);
    return json::object();
  })["power"];
  out.power = protocol::decode_power(power, protocol::kModelBenchKind);
  if (out.power->available) {
    // Energy of one inference: the window's power above idle for the median time of a token
    // (or, for a classifier, of one forward).
    out.energy_per_token_j =
        (out.power->window_w - out.power->idle_w) * out.per_inference().median_ns * 1e-9;
    out.power->energy_per_inference_j = out.energy_per_token_j;
    out.energy_unavailable_reason.clear();
  } else {
    out.energy_unavailable_reason = out.power->reason;
  }
  return protocol::to_json(out);
}

}  // namespace hilq::agent
