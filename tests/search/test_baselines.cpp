// The baselines of the tiered search: NSGA-II's crowding on hand-checked fronts, the random
// sampler's uniformity (chi-square), and seeded determinism of both on the micro LM.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <map>

#include "db/database.h"
#include "db/run_store.h"
#include "db/search_store.h"
#include "search/compare.h"
#include "search/hypervolume.h"
#include "search/pareto.h"
#include "search/space.h"
#include "search/tiered.h"
#include "tests/search/micro_lm.h"

namespace fs = std::filesystem;
using namespace hilq;

namespace {

double chi_square(const std::map<std::string, int>& counts, int cells, int draws) {
  const double expected = static_cast<double>(draws) / cells;
  double x = 0;
  for (const auto& [k, n] : counts) x += (n - expected) * (n - expected) / expected;
  x += (cells - static_cast<int>(counts.size())) * expected;  // cells never drawn
  return x;
}

}  // namespace

TEST_CASE("crowding distance on hand-checked fronts", "[search]") {
  const auto d = search::crowding_distance({{1, 5}, {2, 3}, {4, 1}});
  CHECK(std::isinf(d[0]));
  CHECK(std::isinf(d[2]));
  CHECK(d[1] == Approx(2.0));  // (4-1)/(4-1) + (5-1)/(5-1)
  const auto e = search::crowding_distance({{1, 4}, {2, 3}, {3, 2}, {4, 1}});
  CHECK(e[1] == Approx(4.0 / 3));  // 2/3 per objective
  CHECK(e[2] == Approx(4.0 / 3));
  const auto flat = search::crowding_distance({{1, 1}, {1, 1}, {1, 1}});  // no range: only ends
  CHECK(flat[1] == 0.0);
  // Ranks on a hand-checked set: a feasible point always before an infeasible one.
  const std::vector<search::ParetoPoint> pts = {
      {0, {1, 5}, {0}}, {1, {2, 3}, {0}}, {2, {3, 4}, {0}}, {3, {0, 0}, {1}}, {4, {4, 4}, {0}}};
  CHECK(search::nondominated_ranks(pts) == std::vector<int>{0, 0, 1, 3, 2});
  CHECK_FALSE(search::constrained_dominates(pts[3], pts[4]));
  CHECK(search::constrained_dominates(pts[4], pts[3]));
}

TEST_CASE("the random sampler is uniform over the representable points", "[search]") {
  search::SplitMix64 rng(7);
  constexpr int kDraws = 21000;
  SECTION("one block: every unit's width and the mode, each uniform") {
    const search::SpaceOptions space{1, 0, 0.5};
    std::map<std::string, std::map<std::string, int>> by_gene;
    for (int i = 0; i < kDraws; ++i) {
      const auto p = search::random_point(space, rng);
      for (const auto& [u, w] : p.w_bits) ++by_gene[u][std::to_string(w)];
      ++by_gene["act"][search::act_mode_name(p.act[0])];
    }
    REQUIRE(by_gene.size() == 8 + 1);
    for (const auto& [gene, counts] : by_gene) {
      INFO(gene);
      const int cells = gene == "act" ? 3 : 5;
      // p = 0.001 critical values: 13.82 (2 dof), 18.47 (4 dof).
      CHECK(chi_square(counts, cells, kDraws) < (cells == 3 ? 13.82 : 18.47));
    }
  }
  SECTION("two blocks: the 7 representable mode pairs, uniform; mixes never drawn") {
    const search::SpaceOptions space{2, 0, 0.5};
    std::map<std::string, int> pairs;
    for (int i = 0; i < kDraws; ++i) {
      const auto p = search::random_point(space, rng);
      REQUIRE(search::unrepresentable_reason(p).empty());
      ++pairs[std::string(search::act_mode_name(p.act[0])) + "|" + search::act_mode_name(p.act[1])];
    }
    CHECK(pairs.size() == 7);
    CHECK(chi_square(pairs, 7, kDraws) < 22.46);  // 6 dof, p = 0.001
  }
}

TEST_CASE("random and NSGA-II are deterministic for a seed and differ across seeds", "[search]") {
  const fs::path dir = fs::temp_directory_path() / ("hilq_baselines_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto proposals = [&](const std::string& strategy, uint64_t seed) {
    db::Database db(":memory:");
    db::SearchStore store(db);
    search::ScorerOptions so;
    so.model_path = search::testing::micro_lm_path();
    so.data_dir = qat::default_data_dir();
    so.cache_dir = (dir / "cache").string();
    so.calibration_windows = 2;
    so.validation_windows = 2;
    so.test_windows = 2;
    so.max_docs_per_split = search::testing::kMicroDocs;
    search::HostScorer scorer(so, &store);
    search::TieredOptions o;
    o.strategy = strategy;
    o.seed = seed;
    o.budget = 14;
    o.population = 6;
    search::TieredSearch s(scorer, db, db::RunStore(db).create_run("t", std::string("t"), "{}"), o);
    REQUIRE(s.run());
    std::vector<std::string> out;
    for (const auto& c : s.candidates())
      if (c.tier == strategy) out.push_back(c.spec.hash());
    return out;
  };
  for (const std::string strategy : {"random", "nsga2"}) {
    INFO(strategy);
    const auto a = proposals(strategy, 3), b = proposals(strategy, 3), c = proposals(strategy, 4);
    CHECK(a.size() >= 10);
    CHECK(a == b);
    CHECK(a != c);
  }
  fs::remove_all(dir);
}

TEST_CASE(
    "the strategy comparison: fractions of a fixed reference, never falling with more "
    "evaluations, written as JSON, Markdown and SVG",
    "[search]") {
  const fs::path dir = fs::temp_directory_path() / ("hilq_compare_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  db::Database db(":memory:");
  db::SearchStore store(db);
  search::ScorerOptions so;
  so.model_path = search::testing::micro_lm_path();
  so.data_dir = qat::default_data_dir();
  so.cache_dir = (dir / "cache").string();
  so.calibration_windows = 2;
  so.validation_windows = 2;
  so.test_windows = 2;
  so.max_docs_per_split = search::testing::kMicroDocs;
  search::HostScorer scorer(so, &store);
  search::CompareOptions o;
  o.seeds = 2;
  o.budget = 12;
  o.checkpoints = {4, 8, 12};
  o.reference_budget = 16;
  o.base.population = 4;
  const auto c = search::compare_strategies(scorer, db, o);
  REQUIRE(c.runs.size() == 1 + 2 + 2);  // tiered once, nsga2 and random per seed
  CHECK(c.reference_hv > 0);
  for (const auto& r : c.runs) {
    INFO(r.strategy << " seed " << r.seed);
    REQUIRE(r.hv_fraction.size() == 3);
    for (size_t k = 0; k < 3; ++k) {
      CHECK(r.hv_fraction[k] >= 0.0);
      CHECK(r.hv_fraction[k] <= 1.0 + 1e-12);  // the reference front holds every run's points
      if (k) CHECK(r.hv_fraction[k] >= r.hv_fraction[k - 1]);
    }
    CHECK(r.evaluations <= 12);
    // The latency comparison: a fraction of the union of every run's timed points.
    CHECK(r.latency_hv_fraction >= 0.0);
    CHECK(r.latency_hv_fraction <= 1.0 + 1e-12);
  }
  CHECK(c.fp16_decode_ms > 0);
  CHECK(c.latency_reference_point.size() == 2);
  CHECK(c.latency_reference_point[1] == search::kFp16Margin * c.fp16_decode_ms);
  CHECK(c.latency_timed > 0);
  // Both reference fronts are stored with the reference run.
  db::Statement fronts(db,
                       "SELECT board, objective_pair, count(*) FROM pareto WHERE run_id = (SELECT "
                       "max(id) FROM runs) GROUP BY board, objective_pair ORDER BY board");
  std::vector<std::string> stored;
  while (fronts.step()) stored.push_back(fronts.column_text(0) + " " + fronts.column_text(1));
  CHECK(stored == std::vector<std::string>{"host metric-memory", "local metric-latency"});
  // Every run names its strategy, seed and the study's limit (what the report groups runs by).
  db::Statement q(db,
                  "SELECT json_extract(constraints, '$.strategy'), "
                  "json_extract(constraints, '$.metric_limit'), model_hash FROM runs "
                  "WHERE command_line LIKE 'bench_search % seed %' ORDER BY id");
  std::vector<std::string> strategies;
  while (q.step()) {
    strategies.push_back(q.column_text(0));
    CHECK(q.column_double(1) > 0);
    CHECK(q.column_optional_text(2) == scorer.model_hash());
  }
  CHECK(strategies == std::vector<std::string>{"tiered", "nsga2", "nsga2", "random", "random",
                                               "nsga2-reference"});
  search::write_comparison(c, (dir / "out").string());
  for (const char* f : {"comparison.json", "comparison.md", "comparison.svg"})
    CHECK(fs::file_size(dir / "out" / f) > 100);
  fs::remove_all(dir);
}
