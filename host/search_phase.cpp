// Search mode of hil-search (see search_phase.h).
#include "host/search_phase.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "db/search_store.h"
#include "host/workload.h"
#include "model/architecture.h"
#include "model/model_file.h"
#include "search/finish.h"

namespace hilq::host {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string mb(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f MB", bytes / 1e6);
  return buf;
}

}  // namespace

std::string agent_build() { return std::string(HILQ_VERSION) + "+" + HILQ_GIT_SHA; }

void check_search_plan(const RunOptions& options) {
  model::ModelFile file;
  if (const std::string err = model::read_model_file(options.artifact, &file); !err.empty())
    throw ModelError("--model " + options.artifact + ": " + err);
  const auto arch =
      model::Architecture::from_json(file.meta("architecture"), options.artifact + " architecture");
  const bool cls = arch.kind == model::ModelKind::kClassifier;
  if (cls != (options.search.task == "cls"))
    throw UsageError("--task " + options.search.task + ": --model " + options.artifact + " is a " +
                     (cls ? "classifier (use --task cls)" : "causal LM (use --task lm)"));
  if (options.search.mem_budget_mb)
    search::check_memory_budget(arch, options.search.group,
                                std::llround(*options.search.mem_budget_mb * 1e6));
}

std::unique_ptr<SearchRun> run_search_phase(const RunOptions& options, db::Database& db,
                                            int64_t run_id, const std::atomic<bool>& stop) {
  const SearchPlan& plan = options.search;
  auto run = std::make_unique<SearchRun>();
  run->started = Clock::now();
  run->store = std::make_unique<db::SearchStore>(db);
  search::ScorerOptions so;
  so.task = plan.task;
  so.model_path = options.artifact;
  so.data_dir = plan.data_dir;
  so.cache_dir = plan.cache_dir;
  so.threads = plan.score_threads;
  so.calibration_windows = plan.calibration_windows;
  so.validation_windows = plan.validation_windows;
  so.test_windows = plan.test_windows;
  so.max_docs_per_split = plan.max_docs_per_split;
  std::fprintf(stderr, "hil-search: loading %s and the %s corpus splits\n",
               options.artifact.c_str(), plan.task.c_str());
  run->scorer = std::make_unique<search::HostScorer>(so, run->store.get());

  search::TieredOptions to;
  to.constraints.max_metric_increase = plan.max_ppl_increase;
  to.constraints.max_acc_drop = plan.max_acc_drop;
  if (plan.mem_budget_mb) to.constraints.mem_budget_bytes = std::llround(*plan.mem_budget_mb * 1e6);
  to.group = plan.group;
  to.high_fraction = plan.high_fraction;
  to.budget = plan.budget;
  to.strategy = plan.strategy;
  to.seed = plan.seed;
  to.population = plan.population;
  to.crossover = plan.crossover;
  to.mutation = plan.mutation;
  to.stop = &stop;
  to.progress = [](const std::string& line) {
    std::fprintf(stderr, "hil-search: %s\n", line.c_str());
  };
  run->tiered = std::make_unique<search::TieredSearch>(*run->scorer, db, run_id, to);
  if (!run->tiered->run()) return nullptr;
  if (plan.qat_top > 0) {
    search::QatOptions qo;
    qo.steps = plan.qat_steps;
    run->tiered->train_front(plan.qat_top, qo, plan.mu);
    if (stop) return nullptr;
  }

  const search::TieredSearch& t = *run->tiered;
  nlohmann::json constraints = {{"task", plan.task},
                                {"metric", run->scorer->metric_name()},
                                {plan.task == "cls" ? "max_acc_drop" : "max_ppl_increase",
                                 plan.task == "cls" ? plan.max_acc_drop : plan.max_ppl_increase},
                                {"float_metric", t.float_metric()},
                                {"float_bytes", t.float_bytes()},
                                {"metric_limit", t.metric_limit()},
                                {"budget", plan.budget},
                                {"strategy", plan.strategy},
                                {"seed", plan.seed},
                                {"pick", plan.pick},
                                {"mu", plan.mu},
                                {"qat_top", plan.qat_top},
                                {"qat_steps", plan.qat_steps}};
  constraints["mem_budget_bytes"] = to.constraints.mem_budget_bytes
                                        ? nlohmann::json(*to.constraints.mem_budget_bytes)
                                        : nlohmann::json(nullptr);
  run->store->set_run_constraints(run_id, constraints.dump());
  run->trials = search_trials(t, db, run_id, options.boards, options.model_bench,
                              options.min_time_s, agent_build(), &run->measurement_cache_hits);
  run->host_seconds = seconds_since(run->started);
  std::fprintf(stderr,
               "hil-search: host phase done in %.0f s: %d sensitivity scorings, %d tier "
               "candidates scored (%lld from the score cache), %zu quality-feasible; %zu "
               "device jobs to run, %d measurements reused from earlier runs\n",
               run->host_seconds, t.sensitivity_scorings(), t.scored(),
               static_cast<long long>(run->scorer->cache_hits()), t.quality_feasible().size(),
               run->trials.size(), run->measurement_cache_hits);
  return run;
}

void finish_search_run(SearchRun& run, const RunOptions& options, db::Database& db,
                       int64_t run_id) {
  search::FinishOptions fo;
  fo.boards = options.boards;
  fo.pick = options.search.pick;
  fo.mu = options.search.mu;
  fo.out_dir = options.out_dir;
  const search::TieredSearch& t = *run.tiered;
  const search::SearchOutcome out = search::finish_search(t, *run.scorer, db, run_id, fo);

  int pruned = 0, scored = 0;
  for (const auto& c : t.candidates()) {
    if (c.status == "pruned") ++pruned;
    if (!c.packed.sha256.empty() && c.status != "reference") ++scored;
  }
  const bool accuracy = run.scorer->higher_is_better();
  std::printf(
      "search: %d candidates (%d scored, %d pruned unscored), %zu met the quality limit: "
      "validation %s %s %.4f (float %.4f, %s)\n",
      scored + pruned, scored, pruned, t.quality_feasible().size(),
      run.scorer->metric_name().c_str(), accuracy ? ">=" : "<=", t.metric_limit(), t.float_metric(),
      accuracy
          ? ("-" + std::to_string(options.search.max_acc_drop).substr(0, 4) + " points").c_str()
          : ("+" + std::to_string(100.0 * options.search.max_ppl_increase).substr(0, 4) + "%")
                .c_str());
  std::printf(
      "cost: %lld host scorings (%d sensitivity), %lld score-cache hits, %.0f s of "
      "scoring; %zu device jobs, %d measurement-cache hits; %.0f s in all\n",
      static_cast<long long>(run.scorer->scorings()), t.sensitivity_scorings(),
      static_cast<long long>(run.scorer->cache_hits()), run.scorer->scoring_seconds(),
      run.trials.size(), run.measurement_cache_hits, seconds_since(run.started));
  for (const auto& b : out.boards) {
    std::printf("board %s%s: %d feasible measured; fronts: latency %zu, memory %zu, energy %zu%s\n",
                b.board.c_str(), b.emulated ? " (emulated timings)" : "", b.measured,
                b.latency_front.size(), b.memory_front.size(), b.energy_front.size(),
                b.energy_note.empty() ? "" : (" (energy: " + b.energy_note + ")").c_str());
    if (!b.pick) {
      std::printf(
          "  no feasible candidate: nothing meets both the quality limit and the memory "
          "budget on %s\n",
          b.board.c_str());
      continue;
    }
    const double fp_test = run.scorer->float_metric("test");
    std::printf("  pick (%s): %s\n",
                options.search.pick == "lexicographic"
                    ? "least memory"
                    : ("trade-off mu=" + std::to_string(options.search.mu).substr(0, 4)).c_str(),
                b.pick_label.c_str());
    if (run.scorer->higher_is_better())
      std::printf(
          "    accuracy: validation %.4f (%+.1f points), test %.4f (%+.1f points vs "
          "float %.4f)\n",
          b.pick_validation, 100.0 * (b.pick_validation - t.float_metric()), b.pick_test,
          100.0 * (b.pick_test - fp_test), fp_test);
    else
      std::printf("    perplexity: validation %.3f (%+.1f%%), test %.3f (%+.1f%% vs float %.3f)\n",
                  b.pick_validation, 100.0 * (b.pick_validation / t.float_metric() - 1),
                  b.pick_test, 100.0 * (b.pick_test / fp_test - 1), fp_test);
    std::printf(
        "    memory: %s (%+.1f%% vs FP32 %s)\n", mb(static_cast<double>(b.pick_memory)).c_str(),
        100.0 * (static_cast<double>(b.pick_memory) / static_cast<double>(t.float_bytes()) - 1),
        mb(static_cast<double>(t.float_bytes())).c_str());
    if (b.pick_decode_ms) {
      // Rounded as the report rounds it (the same figure in both places).
      std::printf("    decode: %.3f ms/token", *b.pick_decode_ms);
      if (b.fp16_decode_ms)
        std::printf(", %.2fx FP16's %.4f ms", *b.fp16_decode_ms / *b.pick_decode_ms,
                    *b.fp16_decode_ms);
      std::printf("\n");
    }
  }
  for (const auto& m : out.memory_mismatches)
    std::printf("warning: measured model bytes differ from the host's count: %s\n", m.c_str());
  for (const auto& f : out.exported) std::printf("exported: %s\n", f.c_str());
}

}  // namespace hilq::host
