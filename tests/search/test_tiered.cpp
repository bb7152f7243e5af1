// The tiered search on the micro LM: caches, the validation-only constraint, interruption and
// resume, and the end of a run (fronts, picks, test scores, the exported pick) on measurements
// recorded as an agent would.
#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <set>

#include "db/database.h"
#include "db/evaluation_store.h"
#include "db/measurement_store.h"
#include "db/run_store.h"
#include "db/search_store.h"
#include "model/setting.h"
#include "runtime/model.h"
#include "search/finish.h"
#include "search/hypervolume.h"
#include "search/pareto.h"
#include "search/scorer.h"
#include "search/tiered.h"
#include "tests/search/micro_lm.h"

namespace fs = std::filesystem;
using namespace hilq;
using search::testing::micro_lm_path;

namespace {

struct Dir {
  fs::path path;
  explicit Dir(const std::string& tag) {
    static int n = 0;
    path = fs::temp_directory_path() /
           ("hilq_search_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~Dir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

search::ScorerOptions scorer_options(const Dir& dir) {
  search::ScorerOptions o;
  o.model_path = micro_lm_path();
  o.data_dir = qat::default_data_dir();
  o.cache_dir = dir.file("cache");
  o.threads = 2;
  o.calibration_windows = 2;
  o.validation_windows = 4;
  o.test_windows = 4;
  o.max_docs_per_split = search::testing::kMicroDocs;
  return o;
}

search::TieredOptions tier_options(int budget = 30) {
  search::TieredOptions o;
  o.constraints.max_metric_increase = 0.05;
  o.budget = budget;
  return o;
}

int64_t new_run(db::Database& db) {
  return db::RunStore(db).create_run("test", std::string("test"), "{}");
}

// What a search decided, comparable across runs: per candidate its config hash, tier, status,
// parent's config hash and validation metric.
struct Decision {
  std::string hash, tier, status, parent_hash;
  double validation;
  bool operator==(const Decision&) const = default;
};

std::vector<Decision> decisions(const search::TieredSearch& s) {
  std::map<int64_t, std::string> hash_of;
  for (const auto& c : s.candidates())
    hash_of[c.id] = c.status == "reference" ? c.label : c.spec.to_json() + c.label;
  std::vector<Decision> out;
  for (const auto& c : s.candidates())
    out.push_back({hash_of[c.id], c.tier, c.status, c.parent ? hash_of[*c.parent] : "",
                   std::isnan(c.validation) ? -1.0 : c.validation});
  return out;
}

}  // namespace

TEST_CASE("pick_windows spreads whole windows over the stream and refuses a short one",
          "[search]") {
  std::vector<int32_t> stream(1000);
  for (size_t i = 0; i < stream.size(); ++i) stream[i] = static_cast<int32_t>(i);
  const auto w = search::pick_windows(stream, 10, 4, "validation");
  REQUIRE(w.count() == 4);
  for (int i = 0; i < 4; ++i) {
    const int32_t first = w.tokens[static_cast<size_t>(i) * 11];
    CHECK(first % 10 == 0);  // window starts are multiples of seq
    for (int t = 1; t <= 10; ++t) CHECK(w.tokens[static_cast<size_t>(i) * 11 + t] == first + t);
  }
  CHECK(w.tokens.front() == 0);
  CHECK(w.tokens[33] >= 700);  // the last window comes from the end, not the start
  CHECK(search::pick_windows(stream, 10, 500, "v").count() == 99);
  CHECK_THROWS_WITH(search::pick_windows({1, 2, 3}, 10, 4, "test"),
                    Catch::Contains("test split") && Catch::Contains("not one window"));
}

TEST_CASE("the tiered search respects its space and prunes by single-unit sensitivity",
          "[search]") {
  Dir dir("space");
  db::Database db(dir.file("s.db"));
  db::SearchStore store(db);
  search::HostScorer scorer(scorer_options(dir), &store);
  search::TieredSearch s(scorer, db, new_run(db), tier_options());
  REQUIRE(s.run());
  const int units = static_cast<int>(model::unit_names(scorer.n_layers()).size());
  // Every unit at 5 widths and every block's inputs at 3 modes, stored once per model.
  CHECK(s.sensitivity_scorings() == units * 5 + scorer.n_layers() * 3);
  CHECK(store.sensitivities(scorer.model_hash()).size() ==
        static_cast<size_t>(s.sensitivity_scorings()));
  int pruned = 0;
  for (const auto& c : s.candidates()) {
    if (c.status == "reference") continue;
    for (const auto& [u, w] : c.point.w_bits) CHECK(std::set<int>{8, 6, 4, 3, 2}.contains(w));
    if (c.status == "pruned") {
      ++pruned;
      REQUIRE(c.reason);
      CHECK(c.packed.path.empty());  // never packed, never scored
      CHECK_FALSE(c.reason->empty());
    } else {
      // The packed file is what was scored: its bytes as the runtime holds them.
      CHECK(runtime::Model::load(c.packed.path).weight_bytes() == c.packed.memory_bytes);
      CHECK(runtime::Model::load(c.packed.path).quant_config() == c.spec.to_json());
    }
  }
  INFO("pruned " << pruned);
  CHECK(s.scored() <= 30);
}

TEST_CASE("the quality constraint is checked on validation only", "[search]") {
  Dir dir("validation");
  db::Database db(dir.file("s.db"));
  db::SearchStore store(db);
  search::HostScorer scorer(scorer_options(dir), &store);
  search::TieredSearch s(scorer, db, new_run(db), tier_options());
  REQUIRE(s.run());
  CHECK(s.metric_limit() == Approx(scorer.float_metric("validation") * 1.05));
  int feasible = 0, over = 0;
  for (const auto& c : s.candidates()) {
    if (c.status == "reference" || c.status == "pruned") continue;
    CHECK(c.quality_ok == (c.validation <= s.metric_limit()));
    CHECK((c.status == "over-quality") == !c.quality_ok);
    feasible += c.feasible();
    over += !c.quality_ok;
  }
  CHECK(feasible > 0);
  // Nothing of the search has looked at test: no test score is cached yet.
  db::Statement q(db, "SELECT count(*) FROM scores WHERE split <> 'validation'");
  REQUIRE(q.step());
  CHECK(q.column_int(0) == 0);
}

TEST_CASE("a rerun reuses the sensitivity table and the score cache", "[search]") {
  Dir dir("cache");
  db::Database db(dir.file("s.db"));
  db::SearchStore store(db);
  std::vector<Decision> first;
  {
    search::HostScorer scorer(scorer_options(dir), &store);
    search::TieredSearch s(scorer, db, new_run(db), tier_options());
    REQUIRE(s.run());
    CHECK(scorer.scorings() > 0);
    first = decisions(s);
  }
  search::HostScorer scorer(scorer_options(dir), &store);
  search::TieredSearch again(scorer, db, new_run(db), tier_options());
  REQUIRE(again.run());
  CHECK(again.sensitivity_scorings() == 0);
  CHECK(scorer.scorings() == 0);
  CHECK(scorer.cache_hits() == again.scored());
  CHECK(decisions(again) == first);
}

TEST_CASE("a search stopped halfway and resumed decides exactly as an uninterrupted one",
          "[search]") {
  Dir whole_dir("whole"), split_dir("split");
  std::vector<Decision> whole;
  {
    db::Database db(whole_dir.file("s.db"));
    db::SearchStore store(db);
    search::HostScorer scorer(scorer_options(whole_dir), &store);
    search::TieredSearch s(scorer, db, new_run(db), tier_options());
    REQUIRE(s.run());
    whole = decisions(s);
  }
  db::Database db(split_dir.file("s.db"));
  db::SearchStore store(db);
  const int64_t run = new_run(db);
  {
    std::atomic<bool> stop{false};
    int lines = 0;
    auto o = tier_options();
    o.stop = &stop;
    o.progress = [&](const std::string& line) {
      if (line.rfind("[global]", 0) == 0 && ++lines == 3) stop = true;  // Ctrl-C mid-tier
    };
    search::HostScorer scorer(scorer_options(split_dir), &store);
    search::TieredSearch s(scorer, db, run, o);
    CHECK_FALSE(s.run());
    CHECK(s.scored() == 3);
  }
  search::HostScorer scorer(scorer_options(split_dir), &store);
  search::TieredSearch resumed(scorer, db, run, tier_options());
  REQUIRE(resumed.run());
  CHECK(decisions(resumed) == whole);
  CHECK(scorer.cache_hits() == 3);  // what was scored before the stop is not scored again
  // The resumed run's candidates are the same rows: nothing duplicated.
  CHECK(db::EvaluationStore(db).candidates(run).size() == resumed.candidates().size());
}

TEST_CASE(
    "the end of a search: fronts of feasible candidates only, picks, test scores and an "
    "exported pick that reproduces its validation metric exactly",
    "[search]") {
  Dir dir("finish");
  db::Database db(dir.file("s.db"));
  db::SearchStore store(db);
  search::HostScorer scorer(scorer_options(dir), &store);
  const int64_t run = new_run(db);
  // A memory budget between the candidates' sizes, so some are over it.
  int64_t budget = 0;
  {
    Dir probe_dir("probe");
    db::Database probe(probe_dir.file("p.db"));
    db::SearchStore probe_store(probe);
    search::HostScorer probe_scorer(scorer_options(probe_dir), &probe_store);
    search::TieredSearch p(probe_scorer, probe, new_run(probe), tier_options());
    REQUIRE(p.run());
    std::vector<int64_t> sizes;
    for (const auto* c : p.quality_feasible()) sizes.push_back(c->packed.memory_bytes);
    REQUIRE(sizes.size() >= 3);
    std::sort(sizes.begin(), sizes.end());
    budget = sizes[sizes.size() / 2];
  }
  auto o = tier_options();
  o.constraints.mem_budget_bytes = budget;
  search::TieredSearch s(scorer, db, run, o);
  REQUIRE(s.run());
  // Measurements as an agent reports them: decode time grows with memory on "a", the other way
  // round on "b", so the two latency fronts differ.
  db::MeasurementStore ms(db);
  int n = 0;
  for (const auto& c : s.candidates()) {
    if (!c.quality_ok) continue;
    for (const std::string board : {"a", "b"}) {
      db::MeasurementRow m;
      m.run_id = run;
      m.candidate_id = c.id;
      m.board = board;
      m.job_id = "j" + std::to_string(++n);
      m.kind = "model-bench";
      const double mb = static_cast<double>(c.packed.memory_bytes) / 1e6;
      m.decode_ms_median = board == "a" ? 1 + mb : 10 - mb;
      m.model_bytes = c.packed.memory_bytes;
      m.power_unavailable = "no sensor";
      ms.record(m);
    }
  }
  search::FinishOptions fo;
  fo.boards = {"a", "b"};
  fo.out_dir = dir.file("out");
  const search::SearchOutcome out = search::finish_search(s, scorer, db, run, fo);
  REQUIRE(out.boards.size() == 2);
  CHECK(out.memory_mismatches.empty());
  std::map<int64_t, const search::SearchCandidate*> by_id;
  for (const auto& c : s.candidates()) by_id[c.id] = &c;
  std::set<int64_t> tested;
  db::EvaluationStore evals(db);
  for (const auto& b : out.boards) {
    CHECK_FALSE(b.latency_front.empty());
    CHECK(b.energy_front.empty());
    CHECK(b.energy_note == "no sensor");
    for (const std::string pair : {"metric-latency", "metric-memory"})
      for (const int64_t id : store.front(run, b.board, pair)) {
        INFO(b.board << " " << pair << " " << by_id.at(id)->label);
        CHECK(by_id.at(id)->feasible());  // never an infeasible point
        CHECK(by_id.at(id)->packed.memory_bytes <= budget);
        tested.insert(id);
      }
    REQUIRE(b.pick);
    CHECK(by_id.at(*b.pick)->feasible());
    REQUIRE(store.pick(run, b.board));
    CHECK(store.pick(run, b.board)->candidate_id == *b.pick);
  }
  // Test scores: exactly the front members and picks.
  for (const auto& c : s.candidates()) {
    bool has_test = false;
    for (const auto& e : evals.evaluations(c.id)) has_test = has_test || e.split == "test";
    if (c.status == "reference") continue;
    CHECK(has_test == tested.contains(c.id));
  }
  // The exported pick runs in the runtime and reproduces its validation metric exactly.
  const fs::path exported = fs::path(fo.out_dir) / "pick.safetensors";
  REQUIRE(fs::exists(exported));
  const runtime::Model m = runtime::Model::load(exported.string());
  const search::SearchCandidate& pick = *by_id.at(*out.boards[0].pick);
  CHECK(m.quant_config() == pick.spec.to_json());
  db::Statement v(db,
                  "SELECT value FROM evaluations WHERE candidate_id = ? AND split = "
                  "'validation' AND metric = 'perplexity'");
  v.bind(1, pick.id);
  REQUIRE(v.step());
  // A fresh scorer (no score cache) on the exported file.
  Dir fresh("fresh");
  search::HostScorer rescorer(scorer_options(fresh), nullptr);
  const auto packed = search::PackedCandidate{exported.string(), "", 0, ""};
  CHECK(rescorer.score(pick.spec, packed, "validation").metric == v.column_double(0));
}

// A classifier has no LM head: its embedding unit quantizes the token lookup only, and the QAT
// step must not wait for a head input it never sees (it once failed with "head.in was never
// observed").
TEST_CASE("QAT and packing of a classifier config with a quantized embedding", "[search][qat]") {
  Dir dir("cls-embed");
  search::ScorerOptions so = scorer_options(dir);
  so.task = "cls";
  so.model_path = search::testing::micro_cls_path();
  so.max_docs_per_split = 60;
  search::HostScorer scorer(so, nullptr);
  const auto spec = model::Setting::parse("W4A8-E8").to_quant_spec(scorer.n_layers());
  search::QatOptions qo;
  qo.steps = 4;
  qo.calib_batches = 1;
  qo.log_every = 0;
  const search::TrainedCandidate trained = scorer.pack_trained(spec, qo);
  REQUIRE_FALSE(trained.stopped);
  const search::PackedCandidate ptq = scorer.pack(spec);
  CHECK(trained.packed.sha256 != ptq.sha256);
  for (const search::PackedCandidate* p : {&trained.packed, &ptq}) {
    const runtime::Model m = runtime::Model::load(p->path);
    CHECK(m.quant_config() == spec.to_json());
    const double accuracy = scorer.score(spec, *p, "validation").metric;
    CHECK(accuracy >= 0.0);
    CHECK(accuracy <= 1.0);
  }
}

TEST_CASE("a classifier search keeps validation accuracy within the allowed drop", "[search]") {
  Dir dir("cls");
  db::Database db(dir.file("s.db"));
  db::SearchStore store(db);
  search::ScorerOptions so = scorer_options(dir);
  so.task = "cls";
  so.model_path = search::testing::micro_cls_path();
  so.max_docs_per_split = 60;
  search::HostScorer scorer(so, &store);
  CHECK(scorer.metric_name() == "accuracy");
  CHECK(scorer.windows("validation") == 60);
  auto o = tier_options(15);
  o.constraints.max_acc_drop = 2.0;
  const int64_t run = new_run(db);
  search::TieredSearch s(scorer, db, run, o);
  REQUIRE(s.run());
  CHECK(s.metric_limit() == Approx(scorer.float_metric("validation") - 0.02));
  for (const auto& c : s.candidates()) {
    if (c.status == "reference" || c.status == "pruned") continue;
    CHECK(c.validation >= 0.0);
    CHECK(c.validation <= 1.0);
    CHECK(c.quality_ok == (c.validation >= s.metric_limit()));
  }
  // Sensitivity changes are accuracy points lost (a one-unit change of 60 sentences: k * 100/60).
  for (const auto& row : store.sensitivities(scorer.model_hash())) {
    CHECK(row.metric == "accuracy");
    const double sentences = row.metric_change * 32 / 100.0;  // calibration: 2 windows x 16
    CHECK(sentences == Approx(std::round(sentences)).margin(1e-6));
  }
  db::MeasurementStore ms(db);
  int n = 0;
  for (const auto* c : s.quality_feasible()) {
    db::MeasurementRow m;
    m.run_id = run;
    m.candidate_id = c->id;
    m.board = "a";
    m.job_id = "j" + std::to_string(++n);
    m.kind = "model-bench";
    m.decode_ms_median = 1.0;
    m.model_bytes = c->packed.memory_bytes;
    ms.record(m);
  }
  search::FinishOptions fo;
  fo.boards = {"a"};
  fo.out_dir = dir.file("out");
  const auto out = search::finish_search(s, scorer, db, run, fo);
  REQUIRE(out.boards.size() == 1);
  REQUIRE(out.boards[0].pick);
  CHECK(out.boards[0].pick_validation >= s.metric_limit());
  CHECK(fs::exists(fs::path(fo.out_dir) / "pick.safetensors"));
}

// A tiered search of the micro LM, run to its end in a folder of its own.
struct FinishedSearch {
  Dir dir;
  db::Database db;
  db::SearchStore store;
  search::HostScorer scorer;
  search::TieredSearch search;
  FinishedSearch(const std::string& tag, int budget)
      : dir(tag),
        db(dir.file("s.db")),
        store(db),
        scorer(scorer_options(dir), &store),
        search(scorer, db, new_run(db), tier_options(budget)) {
    REQUIRE(search.run());
  }
};

TEST_CASE("the front tier spends what the greedy tiers leave and only adds hypervolume",
          "[search]") {
  FinishedSearch f("front", 30);
  const search::TieredSearch& s = f.search;
  CHECK(s.scored() <= 30);
  // The (metric, memory) hypervolume of the greedy tiers' feasible candidates, and of all.
  const std::vector<double> ref = {s.metric_limit() * (1 + 1e-9),
                                   static_cast<double>(s.float_bytes()) * (1 + 1e-9)};
  std::vector<std::vector<double>> greedy, all;
  std::set<std::string> configs;
  std::map<int64_t, const search::SearchCandidate*> by_id;
  int front_tier = 0;
  for (const auto& c : s.candidates()) {
    by_id[c.id] = &c;
    if (c.status == "reference") continue;
    CHECK(configs.insert(c.spec.to_json() + c.label).second);  // never the same config twice
    if (c.tier == "front") {
      ++front_tier;
      // A neighbour of a feasible candidate scored before it.
      REQUIRE(c.parent);
      REQUIRE(by_id.contains(*c.parent));
      CHECK(by_id.at(*c.parent)->feasible());
    }
    if (!c.feasible()) continue;
    all.push_back({c.validation, static_cast<double>(c.packed.memory_bytes)});
    if (c.tier != "front") greedy.push_back(all.back());
  }
  INFO("front tier candidates " << front_tier << ", scored " << s.scored());
  // The greedy tiers on the micro LM stop well before 30 scorings; the front tier goes on
  // until nothing in reach could add area or the budget is spent.
  CHECK(front_tier > 0);
  REQUIRE_FALSE(greedy.empty());
  CHECK(search::hypervolume(all, ref) >= search::hypervolume(greedy, ref));
}

TEST_CASE("the boards measure the quality-feasible candidates nothing else beats", "[search]") {
  FinishedSearch f("measure", 30);
  const search::TieredSearch& s = f.search;
  auto objectives = [](const search::SearchCandidate& c) {
    double act = 0;
    for (const auto m : c.point.act)
      act += m == search::ActMode::kA8 ? 8.0 : m == search::ActMode::kTa ? 6.0 : 4.0;
    return std::vector<double>{c.validation, static_cast<double>(c.packed.memory_bytes), act};
  };
  const auto measured = s.to_measure();
  const auto candidates = s.quality_feasible();
  REQUIRE_FALSE(measured.empty());
  CHECK(measured.size() <= candidates.size());
  std::set<int64_t> measured_ids;
  for (const auto* c : measured) measured_ids.insert(c->id);
  for (const auto* c : candidates) {
    bool dominated = false;
    for (const auto* o : candidates)
      dominated = dominated || search::dominates(objectives(*o), objectives(*c));
    // Measured exactly when no quality-feasible candidate beats it.
    CHECK(measured_ids.contains(c->id) == !dominated);
  }
}

TEST_CASE(
    "the QAT step trains the best of the front, and its packed file scores as the QAT "
    "engine does",
    "[search][qat]") {
  FinishedSearch f("qat", 20);
  search::TieredSearch& s = f.search;
  search::HostScorer& scorer = f.scorer;
  search::QatOptions qo;
  qo.steps = 8;
  qo.calib_batches = 2;
  qo.log_every = 0;
  s.train_front(1, qo, 0.5);
  std::map<int64_t, const search::SearchCandidate*> by_id;
  for (const auto& c : s.candidates()) by_id[c.id] = &c;
  int trained = 0;
  for (const auto& c : s.candidates()) {
    if (c.tier != "qat") continue;
    ++trained;
    REQUIRE(c.parent);
    const search::SearchCandidate& parent = *by_id.at(*c.parent);
    CHECK(parent.tier != "qat");
    CHECK(c.spec == parent.spec);                    // the same config ...
    CHECK(c.packed.sha256 != parent.packed.sha256);  // ... trained: another file
    CHECK(c.packed.variant == "squat-8-7");
    const runtime::Model m = runtime::Model::load(c.packed.path);
    CHECK(m.quant_config() == c.spec.to_json());
    CHECK(m.weight_bytes() == parent.packed.memory_bytes);
    // The runtime's integer kernels score the file as the QAT engine scored the model it
    // trained, on the same windows. Perplexity is exp(mean NLL) over every position; the
    // agreement suite bounds logits to 1e-4 of their range on average, with a rare activation
    // landing on the other side of a rounding boundary: well inside 0.5 % of perplexity.
    const auto engine = s.engine_validation(c.id);
    REQUIRE(engine);
    INFO("runtime " << c.validation << ", QAT engine " << *engine << ", PTQ parent "
                    << parent.validation);
    CHECK(std::abs(c.validation / *engine - 1) < 5e-3);
    // Its score is cached under (config, variant), apart from the PTQ parent's.
    CHECK(scorer.score(c.spec, c.packed, "validation").metric == c.validation);
    CHECK(scorer.score(parent.spec, parent.packed, "validation").metric == parent.validation);
  }
  CHECK(trained >= 1);
  CHECK(trained <= 2);  // one front member and at most one near miss
}

TEST_CASE("Ctrl-C during the QAT step keeps no half-trained candidate or file", "[search][qat]") {
  FinishedSearch f("qat-stop", 20);
  const std::atomic<bool> stop{true};
  search::QatOptions qo;
  qo.steps = 8;
  qo.calib_batches = 2;
  qo.log_every = 0;
  qo.stop = &stop;
  f.search.train_front(1, qo, 0.5);
  for (const auto& c : f.search.candidates()) CHECK(c.tier != "qat");
  for (const auto& e : fs::recursive_directory_iterator(f.dir.path))
    CHECK(e.path().filename().string().find(".squat-") == std::string::npos);
}
