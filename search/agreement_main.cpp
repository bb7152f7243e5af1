// bench_agreement: do two settings of one model pick the same next tokens? (search/agreement.h)
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "base/cli.h"
#include "search/agreement.h"

namespace {

int run(int argc, char** argv) {
  CLI::App app{R"(Packs two quantized settings of a float LM the way the search does, runs both on
a split's windows with the runtime's kernels (every position sees the true prefix) and reports
how often their greedy next tokens agree, with each setting's perplexity. E.g. the quantized
LM head:  bench_agreement --model M --settings W4A4,W4A4-E8)",
               "bench_agreement"};
  hilq::cli::configure(app);
  std::string model, settings = "W4A4,W4A4-E8", split = "validation", json_out;
  std::string data = HILQ_DATA_DIR, cache = "results/bench_search/cache";
  hilq::search::ScorerOptions so;
  app.add_option("--model", model, "the float LM (hil-train checkpoint)")
      ->required()
      ->type_name("FILE");
  app.add_option("--settings", settings, "two settings A,B (default W4A4,W4A4-E8)")
      ->type_name("A,B");
  app.add_option("--split", split, "validation (default) or test")
      ->check(CLI::IsMember({"validation", "test"}));
  app.add_option("--validation-windows", so.validation_windows, "default 64")
      ->type_name("N")
      ->check(CLI::Range(1, 100000));
  app.add_option("--test-windows", so.test_windows, "default 256")
      ->type_name("N")
      ->check(CLI::Range(1, 100000));
  app.add_option("--data", data, "corpus folder")->type_name("DIR");
  app.add_option("--candidate-cache", cache, "packed files (default results/bench_search/cache)")
      ->type_name("DIR");
  app.add_option("--threads", so.threads, "windows scored in parallel (default 2)")
      ->check(CLI::Range(1, 256));
  app.add_option("--json", json_out, "also write the result as JSON")->type_name("FILE");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return hilq::cli::parse_error_exit(app, e);
  }
  const auto pair = hilq::cli::split_list(settings);
  if (pair.size() != 2) {
    std::fprintf(stderr, "bench_agreement: --settings: '%s' is not two settings A,B\n",
                 settings.c_str());
    return hilq::cli::kExitUsage;
  }
  const auto a = hilq::model::Setting::parse(pair[0]);
  const auto b = hilq::model::Setting::parse(pair[1]);
  so.model_path = model;
  so.data_dir = data;
  so.cache_dir = cache;
  hilq::search::HostScorer scorer(so, nullptr);
  const auto g = hilq::search::greedy_agreement(scorer, a, b, split, so.threads);
  std::printf("%s, %lld positions: greedy tokens agree at %.2f %% (%lld)\n", split.c_str(),
              static_cast<long long>(g.positions), 100 * g.agreement(),
              static_cast<long long>(g.same));
  for (const auto* s : {&g.a, &g.b})
    std::printf("  %-14s perplexity %.4f, weights %.3f MB\n", s->label.c_str(), s->perplexity,
                static_cast<double>(s->memory_bytes) / 1e6);
  std::printf("  perplexity change %s -> %s: %+.2f %%\n", g.a.label.c_str(), g.b.label.c_str(),
              100 * g.perplexity_change());
  if (!json_out.empty()) {
    const nlohmann::json j = {
        {"split", split},
        {"positions", g.positions},
        {"same", g.same},
        {"agreement", g.agreement()},
        {"perplexity_change", g.perplexity_change()},
        {"a",
         {{"setting", g.a.label}, {"perplexity", g.a.perplexity}, {"bytes", g.a.memory_bytes}}},
        {"b",
         {{"setting", g.b.label}, {"perplexity", g.b.perplexity}, {"bytes", g.b.memory_bytes}}}};
    std::ofstream(json_out) << j.dump(2) << '\n';
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return hilq::cli::guard("bench_agreement", [&] { return run(argc, argv); });
}
