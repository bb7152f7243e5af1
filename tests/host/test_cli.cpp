// Every binary's command line (CLI11): --help exits 0 and lists the flags, a bad flag exits 2
// with one line naming it, --flag=value is read like --flag value, and the cross-flag rules stay
// usage errors.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "db/evaluation_store.h"
#include "db/run_store.h"
#include "tests/host/host_test_util.h"

using namespace hilq::test;
using Catch::Matchers::Contains;

namespace {

struct Run {
  int code = -1;
  std::string out, err;
};

// `seconds`: a training run on a loaded 2-core machine can take minutes.
Run run(const Sandbox& box, const std::vector<std::string>& argv, int seconds = 60) {
  Child child(box, "cli", argv);
  const auto code = child.wait_for(seconds);
  REQUIRE(code.has_value());
  return {*code, child.read_out(), child.err()};
}

// A data folder with the first 40 documents of the LM corpus (32 train, 4 validation, 4 test by
// the split rule) and the whole sentiment set: the training tests score whole splits, and the
// full LM test split made up most of their time.
std::string small_data(const Sandbox& box) {
  const char* env = std::getenv("HILQ_DATA_DIR");
  const fs::path real = env && *env ? fs::path(env) : fs::path(HILQ_SOURCE_DIR) / "data";
  const fs::path docs = box.dir / "data" / "sotu" / "package" / "data";
  fs::create_directories(docs);
  std::vector<fs::path> names;
  for (const auto& e : fs::directory_iterator(real / "sotu" / "package" / "data"))
    if (e.path().extension() == ".txt") names.push_back(e.path());
  std::sort(names.begin(), names.end());
  REQUIRE(names.size() >= 40);
  for (size_t i = 0; i < 40; ++i) fs::create_symlink(names[i], docs / names[i].filename());
  fs::create_directory_symlink(real / "sentiment", box.dir / "data" / "sentiment");
  return (box.dir / "data").string();
}

// A 300-token BPE trained on `data`, saved as the sandbox's tok.json.
Run micro_tokenizer(const Sandbox& box, const std::string& data) {
  Run r = run(box, {train_bin(), "tokenizer", "--out", box.path("tok.json"), "--vocab", "300",
                    "--data", data});
  REQUIRE(r.code == 0);
  return r;
}

size_t lines(const std::string& text) {
  size_t n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

}  // namespace

TEST_CASE("every binary prints its help and exits 0 on --help", "[cli]") {
  Sandbox box;
  // Each binary with a flag its help must list (help of a subcommand for hil-train/hil-keys).
  const std::vector<std::vector<std::string>> cases = {
      {search_bin(), "--help", "--boards", "--resume", "--connect-timeout", "--no-health-check"},
      {agent_bin(), "--help", "--connect", "--reconnect-ms", "--power-command", "--fault"},
      {report_bin(), "--help", "--db", "--out", "--run"},
      {run_bin(), "--help", "--model", "--bench", "--quant-config", "--isa"},
      {train_bin(), "--help", "tokenizer", "train", "qat", "eval", "export", "experiment"},
      {train_bin(), "qat", "--help", "--teacher", "--setting", "--no-kd", "--step-init"},
      {train_bin(), "help", "experiment"},
      {keys_bin(), "--help", "generate", "public"},
      {keys_bin(), "generate", "--help", "--dir"},
      {broker_bench_bin(), "--help", "--jobs", "--agents", "--db"},
      {agent_bin(), "-h", "--server-key"}};
  for (const auto& c : cases) {
    std::vector<std::string> argv = {c[0], c[1]};
    size_t first_flag = 2;
    if (c[1] != "--help" && c[1] != "-h" && c[1] != "help") {  // a subcommand, then --help
      argv.push_back(c[2]);
      first_flag = 3;
    }
    CAPTURE(argv);
    const Run r = run(box, argv);
    CHECK(r.code == 0);
    CHECK(r.err.empty());
    for (size_t i = first_flag; i < c.size(); ++i) CHECK_THAT(r.out, Contains(c[i]));
  }
}

TEST_CASE("a bad flag exits 2 with one line naming the flag", "[cli]") {
  Sandbox box;
  struct Case {
    std::vector<std::string> argv;
    std::string names;  // what the one line must name
  };
  const std::vector<Case> cases = {
      {{search_bin(), "--port", "70000"}, "--port"},
      {{search_bin(), "--heartbeat-ms=5"}, "--heartbeat-ms"},
      {{search_bin(), "--connect-timeout", "0"}, "--connect-timeout"},
      {{search_bin(), "--workload", "bogus"}, "--workload"},
      {{search_bin(), "--boards", "local,,pi5"}, "--boards"},
      {{search_bin(), "--resume", "zero"}, "--resume"},
      {{search_bin(), "--db"}, "--db"},
      {{search_bin(), "--no-such-flag", "1"}, "--no-such-flag"},
      {{agent_bin(), "--liveness", "0"}, "--liveness"},
      {{agent_bin(), "--reconnect-ms", "500,100"}, "--reconnect-ms"},
      {{agent_bin(), "--fault", "explode"}, "--fault"},
      {{agent_bin(), "--power", "mains"}, "--power"},
      {{agent_bin(), "--power-command", " "}, "--power-command"},
      {{agent_bin(), "--cache-limit-mb", "0"}, "--cache-limit-mb"},
      {{report_bin()}, "--db"},
      {{report_bin(), "--db", "x.db", "--run", "latest"}, "--run"},
      {{report_bin(), "--db", "x.db", "stray"}, "stray"},
      {{run_bin()}, "--model"},
      {{run_bin(), "--model", "m", "--threads", "0"}, "--threads"},
      {{run_bin(), "--model", "m", "--isa", "sse9"}, "--isa"},
      {{run_bin(), "--model", "m", "--int4", "both"}, "--int4"},
      {{run_bin(), "--model", "m", "--weights", "int3"}, "--weights"},
      {{run_bin(), "--model", "m", "--ids", "1,x,3"}, "--ids"},
      {{run_bin(), "--model", "m", "--temperature", "-1"}, "--temperature"},
      {{train_bin(), "train", "--task", "speech"}, "--task"},
      {{train_bin(), "train", "--task", "lm", "--steps", "0"}, "--steps"},
      {{train_bin(), "qat", "--task", "lm", "--teacher", "t", "--step-init", "zero"},
       "--step-init"},
      {{train_bin(), "tokenizer", "--out", "t.json", "--threads", "2"}, "--threads"},
      {{train_bin(), "export", "--checkpoint", "c"}, "--out"},
      {{keys_bin(), "generate", "two words"}, "NAME"},
      {{broker_bench_bin(), "--agents", "0"}, "--agents"}};
  for (const auto& c : cases) {
    CAPTURE(c.argv);
    const Run r = run(box, c.argv);
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains(c.names));
    CHECK(lines(r.err) == 1);
    CHECK(r.out.empty());
  }
}

TEST_CASE("cross-flag rules are usage errors (exit 2)", "[cli]") {
  Sandbox box;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{agent_bin(), "--curve-key", "a.key"}, "--server-key"},
      {{agent_bin(), "--server-key", "host.pub"}, "--curve-key"},
      {{run_bin(), "--model", "m", "--setting", "W4A8", "--quant-config", "{}"}, "--setting"},
      {{train_bin(), "qat", "--task", "lm", "--teacher", "t", "--setting", "W4A8", "--quant", "q"},
       "--quant"},
      // Found while running, still a usage error: lm training needs a tokenizer.
      {{train_bin(), "train", "--task", "lm", "--data", box.path("none")}, "--tokenizer"},
      {{train_bin(), "train", "--task", "lm", "--normalize", "lowercase"}, "--normalize"},
      {{train_bin(), "train", "--task", "cls", "--init", "e", "--normalize", "upper"},
       "--normalize"},
      {{train_bin(), "experiment", "--task", "cls", "--teacher", "e", "--folds", "3",
        "--ft-normalize", "lowercase,title", "--out", "o"},
       "--ft-normalize"}};
  for (const auto& [argv, names] : cases) {
    CAPTURE(argv);
    const Run r = run(box, argv);
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains(names));
  }
}

TEST_CASE("--flag=value is read like --flag value", "[cli]") {
  Sandbox box;
  // Each run gets past the parser and fails at run time (exit 1) on the value it was given.
  Run r = run(box, {report_bin(), "--db=" + box.path("missing.db"), "--out=" + box.path("o")});
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Contains("no database at '" + box.path("missing.db") + "'"));

  r = run(box, {search_bin(), "--port=0", "--db=/nonexistent-dir/hil.db"});
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Contains("/nonexistent-dir/hil.db"));

  r = run(box, {run_bin(), "--model=" + box.path("none.safetensors"), "--prompt=hi", "--threads=1",
                "--isa=ref"});
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Contains("hil-run: error:") && Contains(box.path("none.safetensors")));

  r = run(box, {train_bin(), "eval", "--task=lm", "--checkpoint=" + box.path("none.ckpt")});
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Contains(box.path("none.ckpt")));

  // The agent reads every value and gives up on a host that never answers.
  r = run(box, {agent_bin(), "--connect=tcp://127.0.0.1:" + std::to_string(free_port()),
                "--board=local", "--id=cli-test", "--host-timeout=0.5", "--heartbeat-ms=50",
                "--liveness=100", "--power=none", "--cache-dir=" + box.path("cache")});
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Contains("cli-test") && Contains("giving up"));

  r = run(box, {keys_bin(), "generate", "farm-host", "--dir=" + box.dir.string()});
  CHECK(r.code == 0);
  CHECK(fs::exists(box.dir / "farm-host.key"));
}

// [train]: it trains a micro model (seconds in Release, minutes under ASan): ctest host.train,
// labelled slow, so the sanitizer run leaves it out.
TEST_CASE("hil-train experiment stores its rows in SQLite and writes results.md from them",
          "[cli][train]") {
  Sandbox box;
  const std::string db_path = box.path("exp.db");
  const std::string data = small_data(box);
  Run r = micro_tokenizer(box, data);
  r = run(box, {train_bin(), "train", "--task",      "lm", "--tokenizer", box.path("tok.json"),
                "--model",   "micro", "--steps",     "10", "--batch",     "2",
                "--seq",     "32",    "--log-every", "0",  "--out",       box.path("t.safetensors"),
                "--data",    data});
  REQUIRE(r.code == 0);
  auto experiment = [&](const std::string& out, const std::string& db, const std::string& settings,
                        std::vector<std::string> extra, const std::string& methods = "ptq,lsq") {
    std::vector<std::string> args = {train_bin(),
                                     "experiment",
                                     "--task",
                                     "lm",
                                     "--teacher",
                                     box.path("t.safetensors"),
                                     "--out",
                                     box.path(out),
                                     "--settings",
                                     settings,
                                     "--methods",
                                     methods,
                                     "--steps",
                                     "2",
                                     "--batch",
                                     "2",
                                     "--seq",
                                     "32",
                                     "--eval-windows",
                                     "2",
                                     "--calib-batches",
                                     "1",
                                     "--db",
                                     db,
                                     "--data",
                                     data};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(box, args, 600);
  };
  r = experiment("out", db_path, "W8A8,W4A8", {});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.err,
             Contains("1 of 4 runs done") && Contains("left") && Contains("4 of 4 runs done"));
  hilq::db::Database db(db_path);
  hilq::db::RunStore runs(db);
  const auto run_id = runs.latest_run_id();
  REQUIRE(run_id.has_value());
  CHECK(runs.run(*run_id)->status == "completed");
  hilq::db::EvaluationStore evals(db);
  const auto candidates = evals.candidates(*run_id);
  CHECK(candidates.size() == 5);  // FP plus 2 settings x 2 methods
  for (const auto& c : candidates) {
    bool has_ppl = false;
    for (const auto& e : evals.evaluations(c.id))
      has_ppl = has_ppl || (e.split == "validation" && e.metric == "perplexity" && e.value > 1);
    CHECK(has_ppl);
  }
  const std::string md = box.read("out/results.md");
  CHECK_THAT(md, Contains("| W4A8 | lsq |") && Contains("| W8A8 | ptq |"));
  const auto first = nlohmann::json::parse(box.read("out/results.json"));
  // Each run records the vector instructions of the build that ran it.
  const std::string build = first.at("runs").at(0).at("build").get<std::string>();
  CHECK_THAT(build, Contains("SSE2") || Contains("NEON"));
  for (const auto& x : first.at("runs")) CHECK(x.at("build") == build);
  CHECK_THAT(md, Contains("Builds (") && Contains("`" + build + "`, 5 runs."));
  // Paired differences: one seed gives one pair, which supports no claim.
  CHECK_THAT(md, Contains("## Paired differences (same seed)") &&
                     Contains("| W4A8 | lsq − ptq | 1 | ") &&
                     Contains("one pair: no spread, no claim"));
  CHECK(first.at("paired").size() == 2);
  auto runs_by_cell = [](const nlohmann::json& j) {
    std::map<std::string, double> out;
    for (const auto& x : j.at("runs")) {
      out[x.at("setting").get<std::string>() + " " + x.at("method").get<std::string>() + " " +
          std::to_string(x.at("seed").get<int64_t>())] = x.at("test_perplexity").get<double>();
    }
    return out;
  };

  // Side by side, a run gives the serial run's values bit for bit; the fp-ft control (the
  // float teacher trained with the same recipe) is a row of its own.
  r = experiment("parallel", box.path("parallel.db"), "W4A8", {"--jobs", "2"}, "fp-ft,ptq,lsq");
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto parallel = runs_by_cell(nlohmann::json::parse(box.read("parallel/results.json")));
  CHECK(parallel.size() == 4);
  for (const auto& [cell, value] : parallel)
    if (cell.find("fp-ft") == std::string::npos) CHECK(runs_by_cell(first).at(cell) == value);
  REQUIRE(parallel.count("FP32 fp-ft 7") == 1);
  CHECK(parallel.at("FP32 fp-ft 7") != parallel.at("FP32 fp 7"));  // it did train
  CHECK_THAT(box.read("parallel/results.md"), Contains("| FP32 | ") && Contains("--method fp-ft"));
  r = run(box, {train_bin(), "qat", "--task", "lm", "--teacher", box.path("t.safetensors"),
                "--setting", "W8A8", "--method", "fp-ft"});
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Contains("--setting FP32"));

  // --resume with one more setting runs only its two runs and keeps the five. One kept run
  // claims another build: resuming says so, and results.md counts the runs of each build.
  {
    auto j = nlohmann::json::parse(box.read("out/results.json"));
    j["runs"][1]["build"] = "SSE2 (another build)";
    box.write("out/results.json", j.dump(1));
  }
  r = experiment("out", db_path, "W8A8,W4A8,W2A8", {"--resume", "--jobs", "2"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.err, Contains("5 runs kept") && Contains("1 kept runs were made by another build"));
  CHECK_THAT(box.read("out/results.md"),
             Contains("`SSE2 (another build)`, 1 run") && Contains("`" + build + "`, 6 runs"));
  const std::string tsv = box.read("out/results.tsv");
  const auto last_header = tsv.rfind("setting\tmethod");
  REQUIRE(last_header != std::string::npos);
  CHECK(std::count(tsv.begin() + static_cast<std::ptrdiff_t>(last_header), tsv.end(), '\n') ==
        3);  // the header and two runs
  const auto all = runs_by_cell(nlohmann::json::parse(box.read("out/results.json")));
  CHECK(all.size() == 7);
  for (const auto& [cell, value] : runs_by_cell(first)) CHECK(all.at(cell) == value);
  // The new database run holds the whole table, the kept runs included.
  const auto resumed = runs.latest_run_id();
  REQUIRE(resumed.has_value());
  CHECK(*resumed != *run_id);
  CHECK(evals.candidates(*resumed).size() == 7);
  CHECK_THAT(box.read("out/results.md"), Contains("| W2A8 | lsq |") && Contains("| W8A8 | ptq |"));
  // With every run kept, the tables are still written (by this build's code).
  box.write("out/results.md", "");
  r = experiment("out", db_path, "W8A8,W4A8,W2A8", {"--resume"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.err, Contains("every run is already in"));
  CHECK_THAT(box.read("out/results.md"), Contains("| W2A8 | lsq − ptq | 1 | "));
  // --tables-only: the table of the selected runs, nothing run, no database run, and the command
  // that ran them (not this one) on top.
  const std::string tsv_before = box.read("out/results.tsv");
  const auto runs_before = runs.latest_run_id();
  r = experiment("out", db_path, "W8A8", {"--resume", "--tables-only"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.err, Contains("nothing run"));
  const std::string only = box.read("out/results.md");
  // The two invocations that made the runs, oldest first; not the rerun that ran nothing, nor
  // this one.
  CHECK_THAT(only, Contains("| W8A8 | lsq − ptq | 1 | ") && !Contains("| W2A8 |") &&
                       Contains("Commands (the runs come from 2 invocations") &&
                       Contains("--settings W8A8,W4A8 --methods") &&
                       Contains("--settings W8A8,W4A8,W2A8 --methods") &&
                       !Contains("--tables-only"));
  CHECK(nlohmann::json::parse(box.read("out/results.json")).at("commands").size() == 2);
  CHECK(box.read("out/results.tsv") == tsv_before);
  CHECK(runs.latest_run_id() == runs_before);
  // Runs the selection leaves out stay in results.json, from --tables-only and from a narrower
  // --resume that runs something: neither loses what an earlier command recorded.
  CHECK(runs_by_cell(nlohmann::json::parse(box.read("out/results.json"))) == all);
  r = experiment("out", db_path, "W3A4", {"--resume"}, "ptq");
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.err, Contains("6 more runs there are outside"));
  const auto widened = runs_by_cell(nlohmann::json::parse(box.read("out/results.json")));
  CHECK(widened.size() == 8);
  for (const auto& [cell, value] : all) CHECK(widened.at(cell) == value);
  CHECK(widened.count("W3A4 ptq 7") == 1);
  CHECK_THAT(box.read("out/results.md"), Contains("| W3A4 | ptq |") && !Contains("| W2A8 |") &&
                                             Contains("results.json keeps 6 more runs") &&
                                             Contains("from 3 invocations"));
  r = experiment("out", db_path, "W8A8,W4A8,W2A8,W3A4", {"--resume", "--tables-only"});
  REQUIRE(r.code == 0);
  CHECK_THAT(box.read("out/results.md"), Contains("| W2A8 | lsq |") && Contains("| W3A4 | ptq |"));
  r = experiment("out", db_path, "W8A8", {"--tables-only"});
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Contains("--resume"));

  // --resume refuses the results of another recipe, naming the field.
  r = experiment("out", db_path, "W8A8", {"--resume", "--steps", "3"});
  CHECK(r.code != 0);
  CHECK_THAT(r.err, Contains("steps = 2") && Contains("this run has 3"));

  // ... and the runs of another teacher at the same path (a retrained cache): by the teacher's
  // sha256, or, in a file from before the hash was kept, by the teacher's FP row.
  const std::string kept_sha =
      nlohmann::json::parse(box.read("out/results.json")).at("teacher_sha256");
  CHECK(kept_sha.size() == 64);
  fs::copy_file(box.path("t.safetensors"), box.path("t-first.safetensors"));
  r = run(box, {train_bin(), "train", "--task",      "lm", "--tokenizer", box.path("tok.json"),
                "--model",   "micro", "--steps",     "12", "--batch",     "2",
                "--seq",     "32",    "--log-every", "0",  "--out",       box.path("t.safetensors"),
                "--data",    data});
  REQUIRE(r.code == 0);
  const std::string before_refusal = box.read("out/results.json");
  r = experiment("out", db_path, "W8A8", {"--resume"});
  CHECK(r.code != 0);
  CHECK_THAT(r.err, Contains("teacher with sha256 " + kept_sha) && Contains("use another --out"));
  CHECK(box.read("out/results.json") == before_refusal);
  nlohmann::json old_file = nlohmann::json::parse(before_refusal);
  old_file.erase("teacher_sha256");
  box.write("out/results.json", old_file.dump());
  r = experiment("out", db_path, "W8A8", {"--resume"});
  CHECK(r.code != 0);
  CHECK_THAT(r.err, Contains("is not the teacher the runs in") && Contains("kept FP row"));
  fs::copy_file(box.path("t-first.safetensors"), box.path("t.safetensors"),
                fs::copy_options::overwrite_existing);
  r = experiment("out", db_path, "W8A8", {"--resume"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.err, Contains("the teacher scores its kept FP row"));
  CHECK(nlohmann::json::parse(box.read("out/results.json")).at("teacher_sha256") == kept_sha);
}

// [train]: a 3-fold cross-validation of a micro classifier (ctest host.train).
TEST_CASE(
    "hil-train experiment --folds cross-validates: a teacher per fold, every sentence held out",
    "[cli][train]") {
  Sandbox box;
  const std::string data = small_data(box);
  Run r = micro_tokenizer(box, data);
  // The encoder: masked-token pretraining only, it never saw a label.
  r = run(box,
          {train_bin(), "train", "--task",      "mlm", "--tokenizer", box.path("tok.json"),
           "--model",   "micro", "--steps",     "4",   "--batch",     "2",
           "--seq",     "32",    "--log-every", "0",   "--out",       box.path("enc.safetensors"),
           "--data",    data});
  REQUIRE(r.code == 0);
  auto experiment = [&](const std::string& teacher, const std::string& settings,
                        std::vector<std::string> extra) {
    std::vector<std::string> args = {train_bin(),
                                     "experiment",
                                     "--task",
                                     "cls",
                                     "--teacher",
                                     teacher,
                                     "--out",
                                     box.path("cv"),
                                     "--settings",
                                     settings,
                                     "--methods",
                                     "ptq,lsq",
                                     "--folds",
                                     "3",
                                     "--ft-steps",
                                     "3",
                                     "--ft-batch",
                                     "4",
                                     "--steps",
                                     "2",
                                     "--batch",
                                     "4",
                                     "--seq",
                                     "32",
                                     "--calib-batches",
                                     "1",
                                     "--log-every",
                                     "0",
                                     "--db",
                                     box.path("cv.db"),
                                     "--data",
                                     data};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(box, args, 600);
  };
  r = experiment(box.path("enc.safetensors"), "W8A8", {"--jobs", "2"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto j = nlohmann::json::parse(box.read("cv/results.json"));
  REQUIRE(j.at("config").at("folds") == 3);
  std::map<std::string, const nlohmann::json*> by_cell;  // "method fold"
  for (const auto& x : j.at("runs"))
    by_cell[x.at("method").get<std::string>() + " " + std::to_string(x.at("fold").get<int>())] = &x;
  CHECK(by_cell.size() == 9);  // per fold: the fine-tuned FP teacher, PTQ and LSQ
  // Pairs are per fold: LSQ against PTQ, and each method against its fold's FP teacher.
  CHECK_THAT(box.read("cv/results.md"),
             Contains("(same seed and fold)") && Contains("mean ± sd over the folds and seeds") &&
                 Contains("| W8A8 | lsq − ptq | 3 | ") && Contains("| W8A8 | ptq vs FP | 3 | "));
  for (int f = 0; f < 3; ++f) {
    CHECK(fs::exists(box.dir / ("cv/fold-" + std::to_string(f) + "-teacher.safetensors")));
    for (const char* m : {"fp", "ptq", "lsq"}) {
      const auto it = by_cell.find(std::string(m) + " " + std::to_string(f));
      REQUIRE(it != by_cell.end());
      const double acc = it->second->at("test_accuracy").get<double>();
      CHECK(acc >= 0.0);
      CHECK(acc <= 1.0);
    }
  }
  const auto& table = j.at("table");
  REQUIRE(!table.empty());
  CHECK(table[0].at("n") == 3);  // mean ± sd over the three folds
  CHECK_THAT(box.read("cv/results.md"), Contains("3-fold cross-validation") &&
                                            Contains("| fold |") && Contains("--folds 3 --fold 2"));

  // The recorded commands reproduce a fold's teacher and its QAT run, value for value.
  auto words = [](const std::string& command) {
    std::vector<std::string> w;
    std::string cur;
    for (char ch : command + " ") {
      if (ch != ' ') {
        cur += ch;
      } else if (!cur.empty()) {
        w.push_back(cur);
        cur.clear();
      }
    }
    REQUIRE(w.at(0) == "hil-train");
    w[0] = train_bin();
    return w;
  };
  auto teacher_cmd = words(by_cell.at("fp 1")->at("command").get<std::string>());
  for (auto& w : teacher_cmd)  // the copy goes next to the kept one
    if (w == box.path("cv/fold-1-teacher.safetensors")) w = box.path("again.safetensors");
  teacher_cmd.insert(teacher_cmd.end(), {"--log-every", "0"});
  r = run(box, teacher_cmd, 600);
  INFO(r.err);
  REQUIRE(r.code == 0);
  char expect[64];
  std::snprintf(expect, sizeof expect, "held-out fold 1 of 3 accuracy %.4f",
                by_cell.at("fp 1")->at("test_accuracy").get<double>());
  CHECK_THAT(r.out, Contains(expect));
  r = run(box, words(by_cell.at("lsq 2")->at("command").get<std::string>()), 600);
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::snprintf(expect, sizeof expect, "test accuracy %.4f",
                by_cell.at("lsq 2")->at("test_accuracy").get<double>());
  CHECK_THAT(r.out, Contains(expect));

  // --resume reuses the fold teachers and runs only the new setting's runs.
  r = experiment(box.path("enc.safetensors"), "W8A8,W4A8", {"--resume"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.err, Contains("9 runs kept") && Contains("fold 2's teacher from"));
  CHECK(nlohmann::json::parse(box.read("cv/results.json")).at("runs").size() == 15);

  // The fold teachers' tokenizer lowercases and prefixes a space, and their file says so (the
  // encoder's does neither); a --resume asking for other text is refused, not mixed in.
  CHECK_THAT(box.read("cv/fold-0-teacher.safetensors"), Contains("prefix-space"));
  CHECK_THAT(box.read("enc.safetensors"), !Contains("prefix-space"));
  CHECK_THAT(by_cell.at("fp 1")->at("command").get<std::string>(),
             Contains("--normalize lowercase,prefix-space"));
  r = experiment(box.path("enc.safetensors"), "W8A8", {"--resume", "--ft-normalize", "none"});
  CHECK(r.code != 0);
  CHECK_THAT(r.err, Contains("normalize"));

  // A classifier already fine-tuned on the labels is no encoder: its folds would leak.
  r = experiment(box.path("cv/fold-0-teacher.safetensors"), "W8A8", {});
  CHECK(r.code != 0);
  CHECK_THAT(r.err, Contains("fine-tuned on the labelled sentences"));

  // Task-adaptive pretraining on the text of fold 1's training sentences: that fold may be
  // fine-tuned from it (the mark survives the fine-tuning), no other split, no cross-validation.
  auto tapt = [&](const std::string& init, const std::string& out, std::vector<std::string> extra) {
    std::vector<std::string> args = {
        train_bin(),   "train",   "--task", "mlm",         "--init", init,    "--corpus",
        "sentiment",   "--steps", "3",      "--batch",     "2",      "--seq", "32",
        "--log-every", "0",       "--out",  box.path(out), "--data", data};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(box, args);
  };
  r = tapt(box.path("enc.safetensors"), "tapt.safetensors", {"--folds", "3", "--fold", "1"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.err, Contains("tokens of the") && Contains("training sentences' text"));
  auto finetune = [&](const std::string& init, const std::string& fold, const std::string& out) {
    return run(box, {train_bin(), "train", "--task", "cls",         "--init",      init,
                     "--folds",   "3",     "--fold", fold,          "--steps",     "2",
                     "--batch",   "4",     "--seq",  "32",          "--log-every", "0",
                     "--dropout", "0.1",   "--out",  box.path(out), "--data",      data});
  };
  r = finetune(box.path("tapt.safetensors"), "1", "ft1.safetensors");
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Contains("held-out fold 1 of 3 accuracy"));
  r = finetune(box.path("tapt.safetensors"), "0", "ft0.safetensors");
  CHECK(r.code != 0);
  CHECK_THAT(r.err, Contains("text of fold 1 of 3's training") &&
                        Contains("use it only with --folds 3 --fold 1"));
  r = experiment(box.path("tapt.safetensors"), "W8A8", {});
  CHECK(r.code != 0);
  CHECK_THAT(r.err, Contains("--corpus sentiment"));
  r = tapt(box.path("ft1.safetensors"), "tapt2.safetensors", {"--folds", "3", "--fold", "1"});
  CHECK(r.code != 0);  // a classifier, even of that fold, has seen labels of every other fold
  CHECK_THAT(r.err, Contains("fine-tuned on the labelled sentences"));
  r = tapt(box.path("enc.safetensors"), "tapt3.safetensors", {});
  REQUIRE(r.code == 0);  // the fixed split's training sentences
  r = run(box, {train_bin(), "train", "--task", "cls", "--init", box.path("tapt3.safetensors"),
                "--folds", "3", "--fold", "1", "--steps", "2", "--out", box.path("x.safetensors"),
                "--data", data});
  CHECK(r.code != 0);
  CHECK_THAT(r.err, Contains("the fixed split's training"));
  r = run(box, {train_bin(), "train", "--task", "mlm", "--corpus", "sentiment", "--tokenizer",
                box.path("tok.json"), "--out", box.path("y.safetensors"), "--data", data});
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Contains("--corpus sentiment needs --init"));
}

// The train_state JSON a checkpoint keeps in its safetensors header.
nlohmann::json train_state(const std::string& file_bytes) {
  REQUIRE(file_bytes.size() >= 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(file_bytes[i]);
  REQUIRE(file_bytes.size() >= 8 + n);
  const auto header = nlohmann::json::parse(file_bytes.substr(8, n));
  return nlohmann::json::parse(header.at("__metadata__").at("train_state").get<std::string>());
}

TEST_CASE("hil-train train --mask-fraction sets and keeps the masked-token fraction",
          "[cli][train]") {
  Sandbox box;
  const std::string data = small_data(box);
  Run r = micro_tokenizer(box, data);
  auto mlm = [&](const std::string& out, std::vector<std::string> extra) {
    std::vector<std::string> args = {
        train_bin(), "train", "--task",      "mlm", "--tokenizer", box.path("tok.json"),
        "--model",   "micro", "--steps",     "2",   "--batch",     "2",
        "--seq",     "32",    "--log-every", "0",   "--out",       box.path(out),
        "--data",    data};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(box, args);
  };
  r = mlm("default.safetensors", {});
  REQUIRE(r.code == 0);
  // The default is not written, so the default command still makes the same file.
  CHECK_FALSE(train_state(box.read("default.safetensors")).contains("mask_fraction"));
  r = mlm("m40.safetensors", {"--mask-fraction", "0.4"});
  REQUIRE(r.code == 0);
  CHECK(train_state(box.read("m40.safetensors")).at("mask_fraction").get<double>() == Approx(0.4));
  CHECK(box.read("m40.safetensors") != box.read("default.safetensors"));
  r = mlm("bad.safetensors", {"--mask-fraction", "1"});
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Contains("--mask-fraction must be in (0, 1)"));
  r = run(box, {train_bin(), "train", "--task", "cls", "--init", box.path("m40.safetensors"),
                "--mask-fraction", "0.4", "--out", box.path("x.safetensors"), "--data", data});
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Contains("--mask-fraction is for --task mlm"));
}
