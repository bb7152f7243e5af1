// hil-search as a search, end to end on the micro LM and a local agent: every quality-feasible
// candidate measured once per board, fronts of feasible candidates, the exported pick runs and
// reproduces its validation metric, a rerun measures nothing twice, and Ctrl-C + --resume ends
// where an uninterrupted run does.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "db/database.h"
#include "db/search_store.h"
#include "model/quant_spec.h"
#include "runtime/bench.h"
#include "runtime/model.h"
#include "search/scorer.h"
#include "tests/host/host_test_util.h"
#include "tests/search/micro_lm.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

extern char** environ;

namespace {

using Box = hilq::test::Sandbox;  // the host tests' temporary folder

struct Outcome {
  int exit_code = -1;
  std::string out, err;
};

pid_t spawn(const Box& box, const std::string& binary, const std::vector<std::string>& args) {
  std::vector<std::string> argv_s = {binary};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string out = box.path("stdout"), err = box.path("stderr");
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  REQUIRE(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

Outcome wait_for(const Box& box, pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), box.read("stdout"),
          box.read("stderr")};
}

Outcome run(const Box& box, const std::string& binary, const std::vector<std::string>& args) {
  return wait_for(box, spawn(box, binary, args));
}

// A small search on the micro LM's slice of the corpus.
std::vector<std::string> search_args(const Box& box, const std::string& db, const std::string& out,
                                     double min_time = 0.01) {
  return {"--model",
          hilq::search::testing::micro_lm_path(),
          "--db",
          db,
          "--out",
          out,
          "--port",
          "0",
          "--max-docs",
          std::to_string(hilq::search::testing::kMicroDocs),
          "--calibration-windows",
          "2",
          "--validation-windows",
          "4",
          "--test-windows",
          "4",
          "--budget",
          "20",
          "--candidate-cache",
          box.path("cache"),
          "--prompt-tokens",
          "8",
          "--decode-tokens",
          "8",
          "--min-time",
          std::to_string(min_time)};
}

int64_t count(hilq::db::Database& db, const std::string& sql) {
  hilq::db::Statement s(db, sql);
  REQUIRE(s.step());
  return s.column_int(0);
}

std::string text(hilq::db::Database& db, const std::string& sql) {
  hilq::db::Statement s(db, sql);
  std::string out;
  while (s.step()) out += s.column_text(0) + "\n";
  return out;
}

}  // namespace

TEST_CASE(
    "hil-search with a model and no --settings searches, measures the quality-feasible "
    "candidates nothing else beats once per board and exports a pick that reproduces its "
    "validation metric",
    "[search]") {
  Box box;
  const std::string db_path = box.path("hil.db");
  const Outcome r = run(box, HILQ_SEARCH_PATH, search_args(box, db_path, box.path("out")));
  INFO(r.err);
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Contains("[sensitivity]") && Contains("[global]") && Contains("ETA"));
  CHECK_THAT(r.out, Contains("pick (trade-off mu=0.50)") && Contains("exported:"));
  hilq::db::Database db(db_path);
  // The two float baselines and the quality-feasible candidates nothing else beats (the
  // selection itself is checked in the search suite): one job, one measurement each.
  const int64_t quality_ok =
      count(db,
            "SELECT count(*) FROM candidates WHERE run_id = 1 AND status IN ('feasible', "
            "'over-budget', 'reference')");
  const int64_t measurable = count(db, "SELECT count(*) FROM jobs WHERE run_id = 1");
  REQUIRE(measurable >= 4);
  CHECK(measurable <= quality_ok);
  CHECK(count(db,
              "SELECT count(*) FROM jobs j JOIN candidates c ON c.id = j.candidate_id WHERE "
              "j.run_id = 1 AND c.status NOT IN ('feasible', 'over-budget', 'reference')") == 0);
  CHECK(count(db, "SELECT count(*) FROM measurements WHERE run_id = 1 AND status = 'ok'") ==
        measurable);
  CHECK(count(db,
              "SELECT count(*) FROM (SELECT candidate_id FROM measurements WHERE run_id = 1 "
              "GROUP BY candidate_id, board HAVING count(*) > 1)") == 0);
  // Fronts hold feasible candidates only; the agent's model bytes equal the host's count.
  CHECK(count(db,
              "SELECT count(*) FROM pareto p JOIN candidates c ON c.id = p.candidate_id "
              "WHERE c.status <> 'feasible'") == 0);
  CHECK(count(db, "SELECT count(*) FROM pareto WHERE run_id = 1") > 0);
  CHECK(count(db,
              "SELECT count(*) FROM measurements m JOIN candidates c ON c.id = "
              "m.candidate_id WHERE c.status <> 'reference' AND m.model_bytes <> "
              "c.memory_bytes") == 0);
  CHECK_THAT(r.out, !Contains("warning:"));

  // The exported pick: its config is the pick's, it runs in hil-run, and a fresh host scoring
  // of the file gives the validation metric recorded for it, exactly.
  const std::string pick = box.path("out/pick.safetensors");
  REQUIRE(fs::exists(pick));
  const hilq::runtime::Model m = hilq::runtime::Model::load(pick);
  const auto spec = hilq::model::QuantSpec::from_json(m.quant_config());
  CHECK(text(db, "SELECT c.config FROM picks p JOIN candidates c ON c.id = p.candidate_id") ==
        spec.to_json() + "\n");
  CHECK(box.read("out/pick.quant.json") == spec.to_json() + "\n");
  double recorded = 0;
  {
    hilq::db::Statement v(db,
                          "SELECT e.value FROM picks p JOIN evaluations e ON "
                          "e.candidate_id = p.candidate_id WHERE e.split = 'validation' AND "
                          "e.metric = 'perplexity'");
    REQUIRE(v.step());
    recorded = v.column_double(0);
  }
  hilq::search::ScorerOptions so;
  so.model_path = hilq::search::testing::micro_lm_path();
  so.data_dir = HILQ_DATA_DIR;
  so.cache_dir = box.path("rescore");
  so.calibration_windows = 2;
  so.validation_windows = 4;
  so.test_windows = 4;
  so.max_docs_per_split = hilq::search::testing::kMicroDocs;
  hilq::search::HostScorer scorer(so, nullptr);
  CHECK(scorer.score(spec, {pick, "", 0, ""}, "validation").metric == recorded);
  // The agent's greedy tokens of the pick equal the host's: the same file, the same arithmetic.
  {
    const std::string tokens =
        text(db,
             "SELECT json_extract(m.metrics, '$.greedy_tokens') FROM picks p JOIN measurements m "
             "ON m.candidate_id = p.candidate_id AND m.run_id = p.run_id");
    hilq::kernels::Context ctx;
    hilq::runtime::BenchOptions bo;
    bo.prompt_tokens = 8;
    bo.decode_tokens = 8;
    bo.warmup = 0;
    bo.min_runs = 1;
    bo.max_runs = 1;
    bo.min_time_s = 0;
    const auto host = hilq::runtime::run_bench(m, ctx, bo);
    REQUIRE(host.tokens.size() == 8);
    CHECK(tokens == nlohmann::json(host.tokens).dump() + "\n");
  }
  const Outcome gen =
      run(box, HILQ_RUN_PATH, {"--model", pick, "--ids", "1,2,3", "--max-tokens", "4"});
  INFO(gen.err);
  CHECK(gen.exit_code == 0);

  // A rerun: every score comes from the cache and every candidate's measurement is reused; only
  // the float baselines are measured again (they are the same session's speed-up reference).
  const Outcome again = run(box, HILQ_SEARCH_PATH, search_args(box, db_path, box.path("out2")));
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  CHECK_THAT(again.out, Contains("0 host scorings (0 sensitivity)") &&
                            Contains(std::to_string(measurable - 2) + " measurement-cache hits"));
  CHECK(count(db, "SELECT count(*) FROM jobs WHERE run_id = 2") == 2);
  CHECK(text(db,
             "SELECT c.config_hash FROM picks p JOIN candidates c ON c.id = p.candidate_id "
             "ORDER BY p.run_id") == [&] {
    const std::string h = spec.hash();
    return h + "\n" + h + "\n";
  }());

  // --profile full: the same search plus Squat QAT of the best front member (as --qat-top 1),
  // each QAT'd candidate recorded beside its PTQ parent.
  auto full_args = search_args(box, db_path, box.path("out3"));
  full_args.insert(full_args.end(), {"--profile", "full", "--qat-steps", "2"});
  const Outcome full = run(box, HILQ_SEARCH_PATH, full_args);
  INFO(full.err);
  REQUIRE(full.exit_code == 0);
  CHECK_THAT(full.err, Contains("Squat QAT"));
  CHECK(count(db,
              "SELECT count(*) FROM candidates WHERE run_id = 3 AND tier = 'qat' AND parent_id "
              "IS NOT NULL") >= 1);
}

TEST_CASE(
    "a search interrupted during its measurements resumes to the same candidates, "
    "memory front and pick as an uninterrupted run",
    "[search]") {
  Box whole, split;
  const Outcome a =
      run(whole, HILQ_SEARCH_PATH, search_args(whole, whole.path("hil.db"), whole.path("out")));
  INFO(a.err);
  REQUIRE(a.exit_code == 0);

  const pid_t pid = spawn(split, HILQ_SEARCH_PATH,
                          search_args(split, split.path("hil.db"), split.path("out"), 0.3));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline &&
         split.read("stderr").find("] r1-local-1 ") == std::string::npos)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  kill(pid, SIGINT);
  const Outcome first = wait_for(split, pid);
  INFO(first.err);
  REQUIRE(first.exit_code == 130);
  const Outcome second = run(
      split, HILQ_SEARCH_PATH,
      {"--resume", "1", "--db", split.path("hil.db"), "--port", "0", "--out", split.path("out")});
  INFO(second.err);
  REQUIRE(second.exit_code == 0);
  hilq::db::Database da(whole.path("hil.db")), db(split.path("hil.db"));
  // Nothing scored before the interruption is scored again: the tiers come from the cache (only
  // the test scores of the end are new).
  const int64_t scored = count(db,
                               "SELECT count(*) FROM candidates WHERE status NOT IN "
                               "('reference', 'pruned')");
  CHECK_THAT(second.err, Contains(": 0 sensitivity scorings, " + std::to_string(scored) +
                                  " tier candidates scored (" + std::to_string(scored) +
                                  " from the score cache)"));
  const std::string candidates =
      "SELECT config_hash || ' ' || tier || ' ' || status FROM candidates WHERE run_id = 1 "
      "ORDER BY id";
  CHECK(text(db, candidates) == text(da, candidates));
  const std::string memory_front =
      "SELECT c.config_hash FROM pareto p JOIN candidates c ON c.id = p.candidate_id WHERE "
      "p.objective_pair = 'metric-memory' ORDER BY c.config_hash";
  CHECK(text(db, memory_front) == text(da, memory_front));
  const std::string pick =
      "SELECT c.config_hash FROM picks p JOIN candidates c ON c.id = p.candidate_id";
  CHECK(text(db, pick) == text(da, pick));
  // Nothing measured twice across the interruption.
  CHECK(count(db,
              "SELECT count(*) FROM (SELECT candidate_id FROM measurements GROUP BY "
              "candidate_id, board HAVING count(*) > 1)") == 0);
}

TEST_CASE("bad search constraints are usage errors naming the flag, and record no run",
          "[search]") {
  Box box;
  const std::string db = box.path("hil.db");
  const std::string model = hilq::search::testing::micro_lm_path();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--max-ppl-increase", "-3%"}, "--max-ppl-increase"},
      {{"--max-ppl-increase", "five"}, "--max-ppl-increase"},
      {{"--mem-budget-mb", "-1"}, "--mem-budget-mb"},
      {{"--mem-budget-mb", "0"}, "--mem-budget-mb"},
      {{"--mem-budget-mb", "0.01"}, "below the smallest model"},
      {{"--max-acc-drop", "1.0"}, "--max-acc-drop applies to --task cls"},
      {{"--task", "cls"}, "is a causal LM (use --task lm)"},
      {{"--pick", "best"}, "--pick"},
      {{"--mu", "1.5"}, "--mu"},
      {{"--strategy", "annealing"}, "--strategy"},
      {{"--profile", "thorough"}, "--profile"},
  };
  for (const auto& [flags, says] : cases) {
    std::vector<std::string> args = {"--model", model, "--db", db, "--port", "0"};
    args.insert(args.end(), flags.begin(), flags.end());
    const Outcome r = run(box, HILQ_SEARCH_PATH, args);
    INFO(flags[0] << " " << flags[1] << ": " << r.err);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Contains(says));
  }
  if (fs::exists(db)) {
    hilq::db::Database d(db);
    CHECK(count(d, "SELECT count(*) FROM runs") == 0);
  }
}
