// The strategy comparison (see compare.h).
#include "search/compare.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "db/run_store.h"
#include "db/search_store.h"
#include "kernels/mkmp.h"
#include "runtime/bench.h"
#include "runtime/model.h"
#include "search/hypervolume.h"
#include "search/pareto.h"

namespace hilq::search {
namespace {

using Clock = std::chrono::steady_clock;

// The (metric as minimised, memory) points of a search's first k validation scorings.
std::vector<ParetoPoint> points_of(const TieredSearch& s, bool accuracy, size_t k) {
  std::vector<ParetoPoint> out;
  size_t seen = 0;
  for (const auto& c : s.candidates()) {
    if (c.status == "reference" || c.status == "pruned" || std::isnan(c.validation)) continue;
    if (seen++ >= k) break;
    if (!c.feasible()) continue;
    out.push_back(
        {c.id,
         {accuracy ? 1.0 - c.validation : c.validation, static_cast<double>(c.packed.memory_bytes)},
         {}});
  }
  return out;
}

// Median decode CPU time per token (ms) of a model file on this machine, one kernel thread.
double decode_cpu_ms(const std::string& path, runtime::WeightsMode weights) {
  runtime::LoadOptions lo;
  lo.weights = weights;
  const runtime::Model model = runtime::Model::load(path, lo);
  kernels::Context ctx;
  runtime::BenchOptions bo;
  bo.prompt_tokens = 16;
  bo.decode_tokens = 32;
  bo.warmup = 1;
  bo.min_runs = 5;
  bo.min_time_s = 0;
  return runtime::percentile(runtime::run_bench(model, ctx, bo).decode_cpu_ns, 0.5) / 1e6;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string fixed(double v, int digits = 3) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

}  // namespace

Comparison compare_strategies(HostScorer& scorer, db::Database& db, const CompareOptions& o) {
  Comparison out;
  out.checkpoints = o.checkpoints;
  const bool accuracy = scorer.higher_is_better();
  db::RunStore runs(db);
  auto new_run = [&](const std::string& what) {
    return runs.create_run("bench_search " + what, std::string("bench"), "{}");
  };
  // All runs' feasible points, for the reference front.
  std::vector<ParetoPoint> all;
  std::vector<std::vector<ParetoPoint>> per_run_points;
  std::vector<std::unique_ptr<TieredSearch>> searches;
  auto run_one = [&](const std::string& strategy, uint64_t seed, int budget) -> TieredSearch& {
    TieredOptions t = o.base;
    t.strategy = strategy;
    t.seed = seed;
    t.budget = budget;
    t.progress = nullptr;
    const int64_t run = new_run(strategy + " seed " + std::to_string(seed));
    searches.push_back(std::make_unique<TieredSearch>(scorer, db, run, t));
    if (o.progress) o.progress(strategy + " seed " + std::to_string(seed) + ": searching");
    searches.back()->run();
    // The study's limits and the run's strategy, as hil-search stores them: the report draws
    // the runs of one study side by side by these (the long reference run named apart).
    const TieredSearch& s = *searches.back();
    nlohmann::json constraints = {
        {"metric", scorer.metric_name()},
        {"metric_limit", s.metric_limit()},
        {"float_metric", s.float_metric()},
        {"float_bytes", s.float_bytes()},
        {"strategy",
         budget == o.reference_budget && seed == 0 ? strategy + "-reference" : strategy},
        {"seed", seed},
        {"budget", budget}};
    constraints["mem_budget_bytes"] = o.base.constraints.mem_budget_bytes
                                          ? nlohmann::json(*o.base.constraints.mem_budget_bytes)
                                          : nlohmann::json(nullptr);
    db::SearchStore(db).set_run_constraints(run, constraints.dump());
    runs.set_model_hash(run, scorer.model_hash());
    runs.finish_run(run, "completed", std::nullopt);
    return *searches.back();
  };
  for (const auto& strategy : o.strategies) {
    const int seeds = strategy == "tiered" ? 1 : o.seeds;
    for (int seed = 1; seed <= seeds; ++seed) {
      const auto t0 = Clock::now();
      TieredSearch& s = run_one(strategy, static_cast<uint64_t>(seed), o.budget);
      StrategyRun r;
      r.strategy = strategy;
      r.seed = static_cast<uint64_t>(seed);
      r.evaluations = s.scored();
      r.sensitivity_scorings = s.sensitivity_scorings();
      r.device_measurements = static_cast<int>(s.to_measure().size());
      r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      out.runs.push_back(r);
      const auto pts = points_of(s, accuracy, static_cast<size_t>(o.budget) * 4);
      all.insert(all.end(), pts.begin(), pts.end());
    }
  }
  if (o.reference_budget > 0) {
    TieredSearch& s = run_one("nsga2", 0, o.reference_budget);
    const auto pts = points_of(s, accuracy, static_cast<size_t>(o.reference_budget) * 4);
    all.insert(all.end(), pts.begin(), pts.end());
  }
  // The reference point from the constraints (every search shares the limit).
  const TieredSearch& any = *searches.front();
  const double metric_ref = accuracy ? 1.0 - any.metric_limit() : any.metric_limit();
  const double memory_ref = o.base.constraints.mem_budget_bytes
                                ? static_cast<double>(*o.base.constraints.mem_budget_bytes)
                                : static_cast<double>(any.float_bytes());
  out.reference_point = {metric_ref * (1 + 1e-9), memory_ref * (1 + 1e-9)};
  out.reference_hv = feasible_hypervolume(all, out.reference_point);
  out.reference_front_size = static_cast<int>(pareto_front(all).size());
  if (out.reference_hv <= 0)
    throw Error(ErrorCategory::kRuntime,
                "no feasible point in any run: the constraints leave nothing to compare");
  // Fractions per checkpoint, run by run (searches[i] belongs to out.runs[i]).
  for (size_t i = 0; i < out.runs.size(); ++i)
    for (const int k : o.checkpoints)
      out.runs[i].hv_fraction.push_back(
          feasible_hypervolume(points_of(*searches[i], accuracy, static_cast<size_t>(k)),
                               out.reference_point) /
          out.reference_hv);
  // The reference front, stored for anyone to recompute the fractions.
  db::SearchStore store(db);
  const int64_t ref_run = new_run("reference front");
  std::vector<int64_t> ids;
  for (const int64_t id : pareto_front(all)) ids.push_back(id);
  store.set_front(ref_run, "host", "metric-memory", ids);
  if (o.latency) {
    // Each distinct packed file the runs would send to a board, timed once.
    std::map<std::string, double> ms_of;  // sha256 -> decode ms
    auto timed = [&](const SearchCandidate& c) {
      auto it = ms_of.find(c.packed.sha256);
      if (it == ms_of.end())
        it = ms_of.emplace(c.packed.sha256, decode_cpu_ms(c.packed.path, {})).first;
      return it->second;
    };
    if (o.progress) o.progress("timing decode of every run's measured candidates");
    out.fp16_decode_ms = decode_cpu_ms(scorer.model_path(), runtime::WeightsMode::kFp16);
    out.latency_reference_point = {out.reference_point[0], kFp16Margin * out.fp16_decode_ms};
    auto latency_points = [&](const TieredSearch& s) {
      std::vector<ParetoPoint> pts;
      for (const SearchCandidate* c : s.to_measure()) {
        if (!c->feasible()) continue;
        const double ms = timed(*c);
        if (ms >= out.latency_reference_point[1]) continue;  // slower than the reference: no area
        pts.push_back({c->id, {accuracy ? 1.0 - c->validation : c->validation, ms}, {}});
      }
      return pts;
    };
    std::vector<std::vector<ParetoPoint>> per_run;
    std::vector<ParetoPoint> union_points;
    for (const auto& s : searches) {
      per_run.push_back(latency_points(*s));
      union_points.insert(union_points.end(), per_run.back().begin(), per_run.back().end());
    }
    out.latency_timed = static_cast<int>(ms_of.size());
    out.latency_reference_hv = feasible_hypervolume(union_points, out.latency_reference_point);
    const auto front = pareto_front(union_points);
    out.latency_front_size = static_cast<int>(front.size());
    for (size_t i = 0; i < out.runs.size(); ++i)
      out.runs[i].latency_hv_fraction =
          out.latency_reference_hv > 0
              ? feasible_hypervolume(per_run[i], out.latency_reference_point) /
                    out.latency_reference_hv
              : NAN;
    store.set_front(ref_run, "local", "metric-latency", front);
  }
  runs.finish_run(ref_run, "completed", std::nullopt);
  return out;
}

void write_comparison(const Comparison& c, const std::string& out_dir) {
  namespace fs = std::filesystem;
  fs::create_directories(out_dir);
  nlohmann::json j;
  j["reference_point"] = c.reference_point;
  j["reference_hypervolume"] = c.reference_hv;
  j["reference_front_size"] = c.reference_front_size;
  j["checkpoints"] = c.checkpoints;
  if (!c.latency_reference_point.empty()) {
    j["latency"] = {{"reference_point", c.latency_reference_point},
                    {"reference_hypervolume", c.latency_reference_hv},
                    {"reference_front_size", c.latency_front_size},
                    {"files_timed", c.latency_timed},
                    {"fp16_decode_ms", c.fp16_decode_ms}};
  }
  for (const auto& r : c.runs)
    j["runs"].push_back({{"strategy", r.strategy},
                         {"seed", r.seed},
                         {"hv_fraction", r.hv_fraction},
                         {"evaluations", r.evaluations},
                         {"sensitivity_scorings", r.sensitivity_scorings},
                         {"device_measurements_per_board", r.device_measurements},
                         {"latency_hv_fraction", std::isnan(r.latency_hv_fraction)
                                                     ? nlohmann::json(nullptr)
                                                     : nlohmann::json(r.latency_hv_fraction)},
                         {"seconds", r.seconds}});
  std::ofstream(fs::path(out_dir) / "comparison.json") << j.dump(2) << "\n";

  std::map<std::string, std::vector<const StrategyRun*>> by;
  std::vector<std::string> order;
  for (const auto& r : c.runs) {
    if (!by.contains(r.strategy)) order.push_back(r.strategy);
    by[r.strategy].push_back(&r);
  }
  std::ofstream md(fs::path(out_dir) / "comparison.md");
  md << "Hypervolume of the feasible (validation metric, memory) front as a fraction of the "
        "reference front's; median [min, max] over seeds.\n\n| strategy | seeds |";
  for (const int k : c.checkpoints) md << " " << k << " evals |";
  md << " device jobs per board | seconds |\n|---|---|";
  for (size_t i = 0; i < c.checkpoints.size(); ++i) md << "---|";
  md << "---|---|\n";
  for (const auto& s : order) {
    const auto& rs = by[s];
    md << "| " << s << " | " << rs.size() << " |";
    for (size_t k = 0; k < c.checkpoints.size(); ++k) {
      std::vector<double> v;
      for (const auto* r : rs) v.push_back(r->hv_fraction[k]);
      md << " " << fixed(median(v)) << " [" << fixed(*std::min_element(v.begin(), v.end())) << ", "
         << fixed(*std::max_element(v.begin(), v.end())) << "] |";
    }
    std::vector<double> jobs, secs;
    for (const auto* r : rs) jobs.push_back(r->device_measurements), secs.push_back(r->seconds);
    md << " " << fixed(median(jobs), 0) << " | " << fixed(median(secs), 0) << " |\n";
  }
  if (!c.latency_reference_point.empty()) {
    md << "\nHypervolume of the feasible (validation metric, decode ms/token on this machine) "
          "front of the candidates each run sends to a board, at the end of its budget, as a "
          "fraction of the union's ("
       << c.latency_front_size << " points; " << c.latency_timed
       << " packed files timed in-process, median decode CPU time per token of one kernel "
          "thread; reference latency 1.1 x FP16's "
       << fixed(c.fp16_decode_ms) << " ms); median [min, max] over seeds.\n\n"
       << "| strategy | seeds | latency hypervolume |\n|---|---|---|\n";
    for (const auto& s : order) {
      std::vector<double> v;
      for (const auto* r : by[s]) v.push_back(r->latency_hv_fraction);
      md << "| " << s << " | " << v.size() << " | " << fixed(median(v)) << " ["
         << fixed(*std::min_element(v.begin(), v.end())) << ", "
         << fixed(*std::max_element(v.begin(), v.end())) << "] |\n";
    }
  }

  // SVG: x = evaluations (checkpoints), y = fraction in [0, 1].
  const double w = 640, h = 360, left = 60, right = 20, top = 20, bottom = 50;
  const double xmax = c.checkpoints.empty() ? 1 : c.checkpoints.back();
  auto x = [&](double v) { return left + (w - left - right) * v / xmax; };
  auto y = [&](double v) { return top + (h - top - bottom) * (1 - std::clamp(v, 0.0, 1.0)); };
  const char* colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b"};
  std::ofstream svg(fs::path(out_dir) / "comparison.svg");
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg << "<line x1=\"" << left << "\" y1=\"" << y(0) << "\" x2=\"" << w - right << "\" y2=\""
      << y(0) << "\" stroke=\"#000\"/><line x1=\"" << left << "\" y1=\"" << y(0) << "\" x2=\""
      << left << "\" y2=\"" << y(1) << "\" stroke=\"#000\"/>\n";
  for (const double t : {0.0, 0.25, 0.5, 0.75, 1.0})
    svg << "<text x=\"" << left - 8 << "\" y=\"" << y(t) + 4 << "\" text-anchor=\"end\">"
        << fixed(t, 2) << "</text>\n";
  for (const int k : c.checkpoints)
    svg << "<text x=\"" << x(k) << "\" y=\"" << y(0) + 16 << "\" text-anchor=\"middle\">" << k
        << "</text>\n";
  svg << "<text x=\"" << (left + w - right) / 2 << "\" y=\"" << h - 8
      << "\" text-anchor=\"middle\">host evaluations</text>\n";
  svg << "<text x=\"14\" y=\"" << (top + h - bottom) / 2 << "\" transform=\"rotate(-90 14 "
      << (top + h - bottom) / 2 << ")\" text-anchor=\"middle\">hypervolume / reference</text>\n";
  for (size_t si = 0; si < order.size(); ++si) {
    const auto& rs = by[order[si]];
    const char* colour = colours[si % 5];
    std::string band_top, band_bottom, line;
    for (size_t k = 0; k < c.checkpoints.size(); ++k) {
      std::vector<double> v;
      for (const auto* r : rs) v.push_back(r->hv_fraction[k]);
      const double px = x(c.checkpoints[k]);
      band_top += fixed(px, 1) + "," + fixed(y(*std::max_element(v.begin(), v.end())), 1) + " ";
      std::string low = fixed(px, 1);  // the band's lower edge runs back, right to left
      low += "," + fixed(y(*std::min_element(v.begin(), v.end())), 1) + " ";
      band_bottom.insert(0, low);
      line += fixed(px, 1) + "," + fixed(y(median(v)), 1) + " ";
    }
    svg << "<polygon points=\"" << band_top << band_bottom << "\" fill=\"" << colour
        << "\" fill-opacity=\"0.15\"/>\n<polyline points=\"" << line << "\" fill=\"none\" stroke=\""
        << colour << "\" stroke-width=\"2\"/>\n<text x=\"" << w - right - 110 << "\" y=\""
        << top + 16 * (si + 1) << "\" fill=\"" << colour << "\">" << order[si] << " (" << rs.size()
        << " seed" << (rs.size() == 1 ? "" : "s") << ")</text>\n";
  }
  svg << "</svg>\n";
}

}  // namespace hilq::search
