// hil-run's work: generation, classification and bench figures on a loaded model (see
// run_model.h).
#include "runtime/run_model.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels/isa.h"
#include "kernels/mkmp.h"
#include "model/tokenizer.h"
#include "runtime/bench.h"
#include "runtime/model.h"
#include "runtime/session.h"

namespace hilq::runtime {
namespace {

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

int bench(const RunModelOptions& args, const std::string& path, const Model& m,
          kernels::Context& ctx) {
  BenchOptions o;
  o.prompt_tokens = args.prompt_tokens;
  o.decode_tokens = args.decode_tokens;
  o.min_runs = args.runs;
  o.max_runs = std::max(o.min_runs, 1000);
  o.min_time_s = args.min_time_s;
  o.seed = args.seed;
  const BenchResult r = run_bench(m, ctx, o);
  const double pre = percentile(r.prefill_ns, 0.5), dec = percentile(r.decode_ns, 0.5);
  if (args.json) {
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

int generate(const RunModelOptions& args, const std::string& path, const Model& m,
             kernels::Context& ctx) {
  const Architecture& a = m.arch();
  std::unique_ptr<model::BpeTokenizer> tok;
  if (!m.vocabulary().empty())
    tok = std::make_unique<model::BpeTokenizer>(model::BpeTokenizer::from_json(m.vocabulary()));
  std::vector<int32_t> ids;
  if (args.ids.has_value() == args.prompt.has_value())
    throw UsageError("give one of --prompt TEXT or --ids LIST");
  if (args.ids) {
    ids = *args.ids;
  } else {
    if (!tok) throw RuntimeError(path + ": the model file has no vocabulary; use --ids");
    ids = tok->encode(*args.prompt);
    if (ids.empty()) throw UsageError("--prompt encodes to no tokens");
  }
  SessionOptions so;
  so.max_context = args.max_context;
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
  const int max_new = args.max_tokens;
  const double temperature = args.temperature;
  uint64_t state = args.seed;
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
    std::printf("%s%s\n", args.prompt ? args.prompt->c_str() : tok->decode(ids).c_str(),
                tok->decode(out).c_str());
  }
  if (!tok || args.show_ids) {
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

int run_model(const RunModelOptions& options) {
  const Model model = Model::load(options.model_path, options.load);
  kernels::Context ctx(options.context);
  return options.bench ? bench(options, options.model_path, model, ctx)
                       : generate(options, options.model_path, model, ctx);
}

}  // namespace hilq::runtime
