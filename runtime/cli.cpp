// hil-run: argument parsing, generation, classification and --bench (see cli.h).
#include "runtime/cli.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/isa.h"
#include "kernels/mkmp.h"
#include "runtime/bench.h"
#include "runtime/model.h"
#include "runtime/session.h"
#include "model/tokenizer.h"

namespace hilq::runtime {
namespace {

constexpr const char* kUsage = R"(usage: hil-run --model FILE [options]

Runs a hilq model file (hilq.packed.v1 from `hil-train export`, or a float checkpoint) on this
machine's MKMP kernels.

Generation (causal LM) and classification:
  --prompt TEXT          text to continue (LM) or to classify (classifier)
  --ids 1,2,3            token ids instead of text
  --max-tokens N         tokens to generate (default 32; stops early when the context is full)
  --temperature T        0 = greedy (default); > 0 samples from softmax(logits / T)
  --seed S               sampling seed (default 1)
  --show-ids             also print the generated token ids

Latency (the figures of the runtime issue):
  --bench                prefill of a prompt + timed token-by-token decode, repeated
  --prompt-tokens N      prompt length (default 128)
  --decode-tokens N      decoded tokens per run (default 128)
  --runs N               at least N timed runs (default 3), and at least --min-time seconds
  --min-time S           (default 1.0)
  --json                 print the result as JSON

Model and kernels:
  --weights MODE         as-stored (default) | fp32 | fp16: the FP32 / FP16-storage baselines
                         of the same model (packed weights dequantized, activations float)
  --float-storage fp16   hold the float parts of a quantized model (embedding / LM head) in
                         fp16 storage (default fp32: exactly what QAT simulated)
  --quant-config JSON    quantize a float model on load (JSON text or @file; absmax weight
                         scales, dynamic activation scales) - for latency of any candidate
  --setting NAME         the same for a uniform setting: W8A8, W4A8, W4A4-TA8/4, W2A8g64, ...
  --context N            KV cache capacity (default: the model's max_seq)
  --threads N            kernel threads (default 1)
  --isa NAME             force a kernel path at most this good (ref, avx2, avx512vnni, neon,
                         dotprod, i8mm); also $HILQ_ISA
  --int4 dot|cat         W4A4 kernel family; also $HILQ_INT4
  --help

Exit codes: 0 ok, 1 runtime error (unreadable or invalid model, ...), 2 usage error.
)";

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Args {
  std::map<std::string, std::string> values;
  std::map<std::string, bool> flags;

  std::string get(const std::string& k, const std::string& fallback = "") const {
    auto it = values.find(k);
    return it == values.end() ? fallback : it->second;
  }
  bool has(const std::string& k) const { return values.contains(k); }
  bool flag(const std::string& k) const { return flags.contains(k); }
  long long integer(const std::string& k, long long fallback, long long lo, long long hi) const {
    if (!has(k)) return fallback;
    const std::string& v = values.at(k);
    size_t used = 0;
    long long x = 0;
    try {
      x = std::stoll(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != v.size() || v.empty() || x < lo || x > hi) {
      throw UsageError("--" + k + " " + v + ": expected an integer in [" + std::to_string(lo) +
                       ", " + std::to_string(hi) + "]");
    }
    return x;
  }
  double number(const std::string& k, double fallback) const {
    if (!has(k)) return fallback;
    try {
      size_t used = 0;
      const double x = std::stod(values.at(k), &used);
      if (used == values.at(k).size() && std::isfinite(x) && x >= 0) return x;
    } catch (const std::exception&) {
    }
    throw UsageError("--" + k + " " + values.at(k) + ": expected a non-negative number");
  }
};

Args parse(int argc, char** argv) {
  static const char* kValued[] = {
      "model",         "prompt",        "ids",     "max-tokens", "temperature", "seed",
      "prompt-tokens", "decode-tokens", "runs",    "min-time",   "weights",     "quant-config",
      "float-storage", "context",       "threads", "isa",        "int4",        "setting"};
  static const char* kFlags[] = {"bench", "json", "show-ids", "help"};
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    if (s.rfind("--", 0) != 0) throw UsageError("unexpected argument '" + s + "'");
    s = s.substr(2);
    std::string value;
    bool inline_value = false;
    if (const size_t eq = s.find('='); eq != std::string::npos) {
      value = s.substr(eq + 1);
      s = s.substr(0, eq);
      inline_value = true;
    }
    bool known = false;
    for (const char* f : kFlags) {
      if (s == f) {
        if (inline_value) throw UsageError("--" + s + " takes no value");
        a.flags[s] = true;
        known = true;
      }
    }
    for (const char* v : kValued) {
      if (s == v) {
        if (!inline_value) {
          if (i + 1 >= argc) throw UsageError("--" + s + " needs a value");
          value = argv[++i];
        }
        a.values[s] = value;
        known = true;
      }
    }
    if (!known) throw UsageError("unknown option --" + s + " (see --help)");
  }
  return a;
}

std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || item.empty() || v < 0 || v > INT32_MAX) {
      throw UsageError("--ids: '" + item + "' is not a token id");
    }
    ids.push_back(static_cast<int32_t>(v));
  }
  if (ids.empty()) throw UsageError("--ids is empty");
  return ids;
}

std::string read_arg_file(const std::string& v) {
  if (v.empty() || v[0] != '@') return v;
  std::ifstream f(v.substr(1));
  if (!f) throw UsageError("cannot read " + v.substr(1));
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

double ms(double ns) { return ns / 1e6; }

int32_t sample(const float* logits, int n, double temperature, uint64_t* state) {
  if (temperature <= 0.0) return argmax(logits, n);
  const float mx = logits[argmax(logits, n)];
  double z = 0.0;
  for (int i = 0; i < n; ++i) z += std::exp((logits[i] - mx) / temperature);
  *state = *state * 6364136223846793005ull + 1442695040888963407ull;
  double u = static_cast<double>(*state >> 11) / 9007199254740992.0 * z;
  for (int i = 0; i < n; ++i) {
    u -= std::exp((logits[i] - mx) / temperature);
    if (u <= 0.0) return i;
  }
  return n - 1;
}

void print_header(const std::string& path, const Model& m, const kernels::Context& ctx) {
  const Architecture& a = m.arch();
  std::printf("model %s: %s, %s %s (d=%d, layers=%d, heads=%d, ff=%d, vocab=%d), weights %lld B\n",
              path.c_str(), m.label().c_str(),
              a.kind == ModelKind::kCausalLm ? "causal_lm" : "classifier", a.name.c_str(),
              a.d_model, a.n_layers, a.n_heads, a.d_ff, a.vocab_size,
              static_cast<long long>(m.weight_bytes()));
  std::printf("kernel path %s, %d thread(s)\n", kernels::isa_name(ctx.isa()), ctx.threads());
}

int bench(const Args& args, const std::string& path, const Model& m, kernels::Context& ctx) {
  BenchOptions o;
  o.prompt_tokens = static_cast<int>(args.integer("prompt-tokens", 128, 1, 1 << 20));
  o.decode_tokens = static_cast<int>(args.integer("decode-tokens", 128, 0, 1 << 20));
  o.min_runs = static_cast<int>(args.integer("runs", 3, 1, 1 << 20));
  o.max_runs = std::max(o.min_runs, 1000);
  o.min_time_s = args.number("min-time", 1.0);
  o.seed = static_cast<uint64_t>(args.integer("seed", 1, 0, INT64_MAX));
  const BenchResult r = run_bench(m, ctx, o);
  const double pre = percentile(r.prefill_ns, 0.5), dec = percentile(r.decode_ns, 0.5);
  if (args.flag("json")) {
    nlohmann::json j = {{"model", path},
                        {"label", r.label},
                        {"isa", kernels::isa_name(ctx.isa())},
                        {"threads", ctx.threads()},
                        {"kernels", r.kernels},
                        {"prompt_tokens", o.prompt_tokens},
                        {"decode_tokens", o.decode_tokens},
                        {"runs", r.runs},
                        {"prefill_ms",
                         {{"median", ms(pre)},
                          {"p10", ms(percentile(r.prefill_ns, 0.1))},
                          {"p90", ms(percentile(r.prefill_ns, 0.9))}}},
                        {"decode_ms_per_token",
                         {{"median", ms(dec)},
                          {"p10", ms(percentile(r.decode_ns, 0.1))},
                          {"p90", ms(percentile(r.decode_ns, 0.9))},
                          {"count", r.decode_ns.size()}}},
                        {"cpu_time",
                         {{"prefill_ms_median", ms(percentile(r.prefill_cpu_ns, 0.5))},
                          {"decode_ms_per_token_median", ms(percentile(r.decode_cpu_ns, 0.5))},
                          {"decode_ms_per_token_p90", ms(percentile(r.decode_cpu_ns, 0.9))},
                          {"note",
                           "CLOCK_THREAD_CPUTIME_ID of the calling thread: leaves out time other "
                           "processes held the core; meaningful with --threads 1"}}},
                        {"weight_bytes", r.memory.weight_bytes},
                        {"file_bytes", m.file_bytes()},
                        {"kv_cache_bytes", r.memory.kv_cache_bytes},
                        {"arena_bytes", r.memory.arena_bytes},
                        {"tokens", r.tokens}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  print_header(path, m, ctx);
  std::printf("memory: weights %lld B, KV cache %lld B (context %d), arena %lld B\n",
              static_cast<long long>(r.memory.weight_bytes),
              static_cast<long long>(r.memory.kv_cache_bytes), r.context,
              static_cast<long long>(r.memory.arena_bytes));
  std::printf("%s %d tokens: median %.3f ms (p10 %.3f, p90 %.3f) over %d runs\n",
              m.arch().kind == ModelKind::kCausalLm ? "prefill" : "classify", o.prompt_tokens,
              ms(pre), ms(percentile(r.prefill_ns, 0.1)), ms(percentile(r.prefill_ns, 0.9)),
              r.runs);
  if (!r.decode_ns.empty()) {
    std::printf(
        "decode: median %.4f ms/token, p90 %.4f ms/token over %zu tokens (positions %d..%d) = %.1f "
        "tokens/s\n",
        ms(dec), ms(percentile(r.decode_ns, 0.9)), r.decode_ns.size(), o.prompt_tokens,
        o.prompt_tokens + o.decode_tokens - 1, dec > 0 ? 1e9 / dec : 0.0);
    std::printf(
        "  thread CPU time: prefill median %.3f ms, decode median %.4f ms/token (p90 %.4f)\n",
        ms(percentile(r.prefill_cpu_ns, 0.5)), ms(percentile(r.decode_cpu_ns, 0.5)),
        ms(percentile(r.decode_cpu_ns, 0.9)));
    std::printf("greedy tokens:");
    for (size_t i = 0; i < r.tokens.size() && i < 24; ++i) std::printf(" %d", r.tokens[i]);
    std::printf("%s\n", r.tokens.size() > 24 ? " ..." : "");
  }
  std::printf("kernels: %s\n", r.kernels.c_str());
  return 0;
}

int generate(const Args& args, const std::string& path, const Model& m, kernels::Context& ctx) {
  const Architecture& a = m.arch();
  std::unique_ptr<model::BpeTokenizer> tok;
  if (!m.vocabulary().empty())
    tok = std::make_unique<model::BpeTokenizer>(model::BpeTokenizer::from_json(m.vocabulary()));
  std::vector<int32_t> ids;
  if (args.has("ids") == args.has("prompt"))
    throw UsageError("give one of --prompt TEXT or --ids LIST");
  if (args.has("ids")) {
    ids = parse_ids(args.get("ids"));
  } else {
    if (!tok) throw RuntimeError(path + ": the model file has no vocabulary; use --ids");
    ids = tok->encode(args.get("prompt"));
    if (ids.empty()) throw UsageError("--prompt encodes to no tokens");
  }
  SessionOptions so;
  so.max_context = static_cast<int>(args.integer("context", 0, 0, 1 << 22));
  if (a.kind == ModelKind::kClassifier) {
    if (static_cast<int>(ids.size()) > a.max_seq)
      ids.resize(static_cast<size_t>(a.max_seq));  // as training truncates
    so.max_context = std::max(so.max_context, static_cast<int>(ids.size()));
  }
  Session s(m, ctx, so);
  print_header(path, m, ctx);
  using clock = std::chrono::steady_clock;
  if (a.kind == ModelKind::kClassifier) {
    const auto t0 = clock::now();
    const std::span<const float> p = s.classify(ids);
    const double t = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    const int best = argmax(p.data(), static_cast<int>(p.size()));
    const auto& names = m.class_labels();
    auto name = [&](size_t c) { return c < names.size() ? names[c] : std::to_string(c); };
    std::printf("label %s (probability %.4f) from %zu tokens in %.3f ms\n",
                name(static_cast<size_t>(best)).c_str(), p[static_cast<size_t>(best)], ids.size(),
                t);
    for (size_t c = 0; c < p.size(); ++c) std::printf("  class %s: %.4f\n", name(c).c_str(), p[c]);
    return 0;
  }
  const int max_new = static_cast<int>(args.integer("max-tokens", 32, 0, 1 << 22));
  const double temperature = args.number("temperature", 0.0);
  uint64_t state = static_cast<uint64_t>(args.integer("seed", 1, 0, INT64_MAX));
  if (static_cast<int>(ids.size()) > s.max_context()) {
    throw RuntimeError("prompt of " + std::to_string(ids.size()) +
                       " tokens exceeds the context of " + std::to_string(s.max_context()) +
                       " (use --context)");
  }
  auto t0 = clock::now();
  std::span<const float> logits = s.prefill(ids);
  const double prefill_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
  std::vector<int32_t> out;
  t0 = clock::now();
  while (static_cast<int>(out.size()) < max_new) {
    const int32_t next = sample(logits.data(), a.vocab_size, temperature, &state);
    out.push_back(next);
    if (static_cast<int>(out.size()) == max_new || s.position() >= s.max_context()) break;
    logits = s.decode(next);
  }
  const double gen_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
  if (tok) {
    std::printf("%s%s\n",
                args.has("prompt") ? args.get("prompt").c_str() : tok->decode(ids).c_str(),
                tok->decode(out).c_str());
  }
  if (!tok || args.flag("show-ids")) {
    std::printf("ids:");
    for (int32_t id : out) std::printf(" %d", id);
    std::printf("\n");
  }
  const int decoded = std::max(0, static_cast<int>(out.size()) - 1);
  std::printf(
      "prompt %zu tokens, prefill %.2f ms; %zu tokens generated in %.2f ms = %.1f tokens/s%s\n",
      ids.size(), prefill_ms, out.size(), gen_ms,
      decoded > 0 && gen_ms > 0 ? 1000.0 * decoded / gen_ms : 0.0,
      static_cast<int>(out.size()) < max_new ? " (context full)" : "");
  std::printf("kernels: %s\n", s.kernels_joined().c_str());
  return 0;
}

}  // namespace

int run_cli(int argc, char** argv) {
  try {
    const Args args = parse(argc, argv);
    if (args.flag("help") || argc == 1) {
      std::fputs(kUsage, args.flag("help") ? stdout : stderr);
      return args.flag("help") ? 0 : 2;
    }
    if (!args.has("model")) throw UsageError("--model FILE is required");
    const std::string path = args.get("model");
    kernels::ContextOptions co;
    co.threads = static_cast<int>(args.integer("threads", 1, 1, 1024));
    co.isa = args.get("isa");
    if (!co.isa.empty() && !kernels::isa_from_name(co.isa)) {
      throw UsageError("--isa " + co.isa +
                       " is not a kernel path (ref, avx2, avx512vnni, neon, dotprod, i8mm)");
    }
    co.int4 = args.get("int4");
    if (!co.int4.empty() && co.int4 != "dot" && co.int4 != "cat")
      throw UsageError("--int4 must be dot or cat");
    LoadOptions lo;
    try {
      lo.weights = weights_mode_from_name(args.get("weights"));
    } catch (const ConfigError& e) {
      throw UsageError(std::string("--weights: ") + e.what());
    }
    lo.quant_config = read_arg_file(args.get("quant-config"));
    if (const std::string s = args.get("setting"); !s.empty())
      lo.setting = model::Setting::parse(s);
    if (lo.setting && !lo.quant_config.empty())
      throw UsageError("--setting and --quant-config are alternatives; give one");
    const std::string fs = args.get("float-storage", "fp32");
    if (fs != "fp32" && fs != "fp16") throw UsageError("--float-storage must be fp32 or fp16");
    lo.float_fp16 = fs == "fp16";
    const Model model = Model::load(path, lo);
    kernels::Context ctx(co);
    return args.flag("bench") ? bench(args, path, model, ctx) : generate(args, path, model, ctx);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "hil-run: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hil-run: error: %s\n", e.what());
    return 1;
  }
}

}  // namespace hilq::runtime
