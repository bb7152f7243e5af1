// bench_search: compares the search strategies at the same budget on one model (see
// search/compare.h) and writes comparison.{json,md,svg}.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "base/cli.h"
#include "db/database.h"
#include "db/search_store.h"
#include "search/compare.h"

namespace {

int run(int argc, char** argv) {
  CLI::App app{R"(Compares the quantization search strategies on one float model at the same budget:
for each strategy and seed, the hypervolume of its feasible (validation metric, memory) front
after k host evaluations, as a fraction of a reference front (every run's points plus a long
NSGA-II run). Writes comparison.json, comparison.md and comparison.svg; every run, score and the
reference front land in the SQLite file, so the fractions can be recomputed from it.)",
               "bench_search"};
  hilq::cli::configure(app);
  std::string model, db_path = "bench_search.db", out = "results/bench_search";
  std::string strategies = "tiered,nsga2,random", checkpoints = "25,50,100,200";
  std::string data = HILQ_DATA_DIR, cache, task = "lm";
  double max_increase = 5, mem_budget_mb = 0, max_acc_drop = 1;
  hilq::search::CompareOptions o;
  hilq::search::ScorerOptions so;
  so.validation_windows = 16;
  app.add_option("--model", model, "the float model (hil-train checkpoint)")
      ->required()
      ->type_name("FILE");
  app.add_option("--db", db_path, "SQLite file (default bench_search.db)")->type_name("FILE");
  app.add_option("--out", out, "output folder (default results/bench_search)")->type_name("DIR");
  app.add_option("--strategies", strategies, "default tiered,nsga2,random")->type_name("LIST");
  app.add_option("--seeds", o.seeds, "seeds per randomized strategy (default 5)")
      ->type_name("N")
      ->check(CLI::Range(1, 1000));
  app.add_option("--budget", o.budget, "host evaluations per run (default 200)")
      ->type_name("N")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--checkpoints", checkpoints, "evaluations reported (default 25,50,100,200)")
      ->type_name("LIST");
  app.add_option(
         "--reference-budget", o.reference_budget,
         "evaluations of the long NSGA-II run of the reference front (default 600; 0: none)")
      ->type_name("N")
      ->check(CLI::Range(0, 1000000));
  bool no_latency = false;
  app.add_flag("--no-latency", no_latency,
               "skip the (metric, decode latency on this machine) comparison, which times every\n"
               "run's measured candidates in-process");
  app.add_option("--task", task, "lm (default) or cls")->check(CLI::IsMember({"lm", "cls"}));
  app.add_option("--max-ppl-increase", max_increase, "quality limit in percent (default 5)")
      ->type_name("PCT")
      ->check(hilq::cli::number_in(0, 1000));
  app.add_option("--max-acc-drop", max_acc_drop, "cls: accuracy points (default 1)")
      ->type_name("POINTS")
      ->check(hilq::cli::number_in(0, 100));
  app.add_option("--mem-budget-mb", mem_budget_mb, "memory budget (default: FP32's bytes)")
      ->type_name("MB")
      ->check(hilq::cli::number_in(0, 1e9, true));
  app.add_option("--population", o.base.population, "nsga2 population (default 50)")
      ->type_name("N")
      ->check(CLI::Range(2, 100000));
  app.add_option("--validation-windows", so.validation_windows,
                 "validation windows per scoring (default 16)")
      ->type_name("N")
      ->check(CLI::Range(1, 100000));
  app.add_option("--calibration-windows", so.calibration_windows, "default 8")
      ->type_name("N")
      ->check(CLI::Range(1, 100000));
  app.add_option("--max-docs", so.max_docs_per_split, "only the first N documents per split")
      ->type_name("N")
      ->check(CLI::Range(1, 100000));
  app.add_option("--data", data, "corpus folder")->type_name("DIR");
  app.add_option("--candidate-cache", cache, "packed candidates (default <out>/cache)")
      ->type_name("DIR");
  app.add_option("--score-threads", so.threads, "default 2")->check(CLI::Range(1, 256));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return hilq::cli::parse_error_exit(app, e);
  }
  for (const auto& s : hilq::cli::split_list(strategies))
    if (s != "tiered" && s != "nsga2" && s != "random") {
      std::fprintf(stderr, "bench_search: --strategies: '%s' is not tiered, nsga2 or random\n",
                   s.c_str());
      return hilq::cli::kExitUsage;
    }
  o.strategies = hilq::cli::split_list(strategies);
  o.checkpoints.clear();
  for (const auto& k : hilq::cli::split_list(checkpoints)) {
    char* end = nullptr;
    const long v = std::strtol(k.c_str(), &end, 10);
    if (k.empty() || *end || v < 1) {
      std::fprintf(stderr, "bench_search: --checkpoints: '%s' is not a positive count\n",
                   k.c_str());
      return hilq::cli::kExitUsage;
    }
    o.checkpoints.push_back(static_cast<int>(v));
  }
  so.task = task;
  so.model_path = model;
  so.data_dir = data;
  so.cache_dir = cache.empty() ? out + "/cache" : cache;
  o.base.constraints.max_metric_increase = max_increase / 100;
  o.base.constraints.max_acc_drop = max_acc_drop;
  if (mem_budget_mb > 0) o.base.constraints.mem_budget_bytes = std::llround(mem_budget_mb * 1e6);
  o.progress = [](const std::string& line) {
    std::fprintf(stderr, "bench_search: %s\n", line.c_str());
  };

  o.latency = !no_latency;
  hilq::db::Database db(db_path);
  hilq::db::SearchStore store(db);
  hilq::search::HostScorer scorer(so, &store);
  const auto c = hilq::search::compare_strategies(scorer, db, o);
  hilq::search::write_comparison(c, out);
  std::printf("reference front: %d points, hypervolume %.6g\n", c.reference_front_size,
              c.reference_hv);
  if (o.latency)
    std::printf(
        "latency reference front: %d points, hypervolume %.6g (%d files timed, FP16 %.3f "
        "ms/token)\n",
        c.latency_front_size, c.latency_reference_hv, c.latency_timed, c.fp16_decode_ms);
  std::printf("wrote %s/comparison.{json,md,svg}\n", out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return hilq::cli::guard("bench_search", [&] { return run(argc, argv); });
}
