// End to end: hil-search starts a real hil-agent on loopback, and the measurements land in the
// SQLite file and the CSV; each failure mode ends with one clear line and a non-zero exit.
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
#include <zmq.hpp>

#include "db/run_store.h"
#include "model/sha256.h"
#include "tests/runtime/runtime_test_util.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

extern char** environ;

namespace {

struct Sandbox {
  fs::path dir;
  Sandbox() {
    dir = fs::temp_directory_path() /
          ("hilq_e2e_" + std::to_string(getpid()) + "_" + std::to_string(counter()++));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~Sandbox() { fs::remove_all(dir); }
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::string read(const std::string& name) const {
    std::ifstream in(dir / name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
};

struct Outcome {
  int exit_code = -1;
  std::string err;
};

pid_t spawn_search(const Sandbox& box, const std::vector<std::string>& args) {
  std::vector<std::string> argv_s = {HILQ_SEARCH_PATH};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string out = (box.dir / "stdout").string(), err = (box.dir / "stderr").string();
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  REQUIRE(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

Outcome wait_search(const Sandbox& box, pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), box.read("stderr")};
}

Outcome run_search(const Sandbox& box, std::vector<std::string> args) {
  return wait_search(box, spawn_search(box, args));
}

}  // namespace

TEST_CASE("hil-search measures on a local agent and records results in SQLite and CSV", "[e2e]") {
  Sandbox box;
  const std::string db_path = (box.dir / "hil.db").string();
  const auto r = run_search(box, {"--boards", "local", "--port", "0", "--db", db_path, "--out",
                                  (box.dir / "out").string(), "--min-time", "0.02"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  hilq::db::Database d(db_path);
  hilq::db::RunStore store(d);
  const auto run = store.latest_run_id();
  REQUIRE(run);
  CHECK(store.run(*run)->status == "completed");
  const auto rows = store.measurements(*run);
  REQUIRE(rows.size() == 4);
  for (const auto& m : rows) {
    CAPTURE(m.job_id);
    CHECK(m.status == "ok");
    CHECK(*m.latency_median_ns > 0);
    CHECK(*m.latency_p10_ns <= *m.latency_median_ns);
    CHECK(*m.latency_median_ns <= *m.latency_p90_ns);
    CHECK(*m.repeats >= 20);
    CHECK(*m.peak_rss_bytes > 0);
    CHECK(m.kernel.has_value());
    CHECK(m.power_unavailable.has_value());  // no sensor backend yet: said, not invented
  }
  for (const auto& job : store.jobs(*run)) CHECK(job.state == "done");
  // The host said BYE to every agent at the end: none is left 'connected'.
  const auto agents = store.agents(*run);
  REQUIRE_FALSE(agents.empty());
  for (const auto& a : agents) {
    CAPTURE(a.id);
    CHECK(a.status == "left");
  }
  const auto board = store.board("local");
  REQUIRE(board);
  CHECK(board->features.find("avx2") != std::string::npos);
  const std::string csv = box.read("out/measurements.csv");
  for (const auto& m : rows) CHECK(csv.find(m.job_id) != std::string::npos);
  CHECK(fs::exists(box.dir / "out" / "report.html"));
}

TEST_CASE("--endpoint tcp://localhost:N binds the loopback address and the run completes",
          "[e2e]") {
  Sandbox box;
  const std::string db_path = (box.dir / "hil.db").string();
  const auto r =
      run_search(box, {"--boards", "local", "--endpoint", "tcp://localhost:*", "--db", db_path,
                       "--out", (box.dir / "out").string(), "--min-time", "0.02"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Contains("listening on tcp://127.0.0.1:"));
}

TEST_CASE("hil-search names the known boards when given an unknown one", "[e2e]") {
  Sandbox box;
  const auto r = run_search(box, {"--boards", "pi4", "--db", (box.dir / "x.db").string()});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Contains("unknown board 'pi4'") && Contains("pi5-qemu"));
}

TEST_CASE("hil-search fails clearly when the port is in use", "[e2e]") {
  Sandbox box;
  zmq::context_t ctx;
  zmq::socket_t holder(ctx, zmq::socket_type::router);
  holder.bind("tcp://127.0.0.1:*");
  const std::string endpoint = holder.get(zmq::sockopt::last_endpoint);
  const std::string port = endpoint.substr(endpoint.rfind(':') + 1);
  const auto r = run_search(box, {"--port", port, "--db", (box.dir / "x.db").string()});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Contains("cannot bind") && Contains(port));
}

TEST_CASE("hil-search fails clearly when the database path is unwritable", "[e2e]") {
  Sandbox box;
  const auto r = run_search(box, {"--port", "0", "--db", "/nonexistent-dir/hil.db"});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Contains("/nonexistent-dir/hil.db"));
}

TEST_CASE("hil-search gives up on an agent that never connects", "[e2e]") {
  Sandbox box;
  fs::create_directories(box.dir / "boards");
  std::ofstream(box.dir / "boards" / "silent.json")
      << R"({"name": "silent", "arch": "x86_64", "features": [], "cores": 1, "memory_mb": 1,
            "power": {"backend": "none"}, "threads": 1, "launch": "sleep 30"})";
  const auto db_path = (box.dir / "x.db").string();
  const auto r = run_search(box, {"--boards", "silent", "--insecure-loopback", "--boards-dir",
                                  (box.dir / "boards").string(), "--port", "0", "--db", db_path,
                                  "--out", (box.dir / "out").string(), "--connect-timeout", "1"});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Contains("silent") && Contains("HELLO within 1 s"));
  hilq::db::Database d(db_path);
  CHECK(hilq::db::RunStore(d).run(1)->status == "failed");
}

TEST_CASE("Ctrl-C stops host and agent, keeps results and marks the run interrupted", "[e2e]") {
  Sandbox box;
  const std::string db_path = (box.dir / "hil.db").string();
  const pid_t pid = spawn_search(box, {"--port", "0", "--db", db_path, "--out",
                                       (box.dir / "out").string(), "--min-time", "1.5"});
  // Wait until the first result is recorded, then interrupt mid-run.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline &&
         box.read("stderr").find("[1/4]") == std::string::npos)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  kill(pid, SIGINT);
  const auto r = wait_search(box, pid);
  INFO(r.err);
  CHECK(r.exit_code == 130);
  CHECK_THAT(r.err, Contains("host said BYE"));  // the agent left cleanly
  hilq::db::Database d(db_path);
  hilq::db::RunStore store(d);
  CHECK(store.run(1)->status == "interrupted");
  const auto rows = store.measurements(1);
  CHECK(rows.size() >= 1);
  CHECK(rows.size() < 4);
  for (const auto& job : store.jobs(1)) CHECK(job.state != "running");
}

TEST_CASE("a model-bench run measures a model file on the agent and records it in SQLite",
          "[e2e][model_bench]") {
  Sandbox box;
  hilq::runtime::test::TestModel tm;  // a float micro model: every setting quantizes on load
  tm.max_seq = 24;
  const std::string model = (box.dir / "micro.safetensors").string();
  REQUIRE(hilq::model::write_model_file(model, hilq::runtime::test::make_model_file(tm)).empty());
  const std::string db_path = (box.dir / "hil.db").string();
  const auto r = run_search(
      box, {"--boards", "local", "--port", "0", "--db", db_path, "--out",
            (box.dir / "out").string(), "--model", model, "--settings", "FP32,FP16,W4A8,W4A4-TA8/4",
            "--prompt-tokens", "16", "--decode-tokens", "8", "--min-time", "0.01"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Contains("W4A8, prefill") && Contains("ms/token"));
  hilq::db::Database d(db_path);
  hilq::db::RunStore store(d);
  CHECK(store.run(1)->model_hash == hilq::model::sha256_file(model));  // hashed once, recorded
  const auto rows = store.measurements(1);
  REQUIRE(rows.size() == 4);
  std::map<std::string, nlohmann::json> by_label;
  for (const auto& m : rows) {
    CAPTURE(m.job_id, m.error.value_or(""));
    REQUIRE(m.status == "ok");
    CHECK(m.kind == "model-bench");
    CHECK(*m.latency_median_ns > 0);  // decode ns/token
    CHECK(*m.repeats >= 3 * 8);       // at least 3 runs of 8 decoded tokens
    CHECK(*m.model_bytes > 0);
    CHECK(*m.peak_rss_bytes > 0);
    CHECK(m.power_unavailable.has_value());  // no sensor on this machine: said, not invented
    const auto metrics = nlohmann::json::parse(m.metrics);
    CHECK(metrics["prompt_tokens"] == 16);
    CHECK(*m.prefill_ms > 0);
    CHECK(metrics["greedy_tokens"].size() == 8);
    by_label[m.setting.value()] = metrics;
  }
  // The settings arrived as asked, and the packed sizes order as their bits do.
  REQUIRE(by_label.count("W4A8"));
  REQUIRE(by_label.count("W4A4-TA8/4"));
  std::map<std::string, int64_t> bytes;
  for (const auto& m : rows)
    bytes[nlohmann::json::parse(m.config).value("weights", "q")] = *m.model_bytes;
  // FP16 storage halves the matrices (norm weights stay fp32, each tensor 64-byte aligned).
  CHECK(bytes["fp16"] < bytes["fp32"] * 0.52);
  CHECK(bytes["fp16"] > bytes["fp32"] * 0.48);
  CHECK(bytes["q"] < bytes["fp16"]);
  CHECK(box.read("out/measurements.csv").find("model-bench") != std::string::npos);
}

TEST_CASE("a model-bench run refuses a bad setting before recording anything", "[e2e]") {
  Sandbox box;
  const std::string model = (box.dir / "micro.safetensors").string();
  REQUIRE(hilq::model::write_model_file(model, hilq::runtime::test::make_model_file({})).empty());
  const std::string db_path = (box.dir / "hil.db").string();
  auto r = run_search(
      box, {"--port", "0", "--db", db_path, "--model", model, "--settings", "W4A8,W5A8"});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Contains("--settings") && Contains("W5A8"));
  r = run_search(box, {"--port", "0", "--db", db_path, "--workload", "model-bench"});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Contains("--model FILE"));
}

TEST_CASE("an interrupted model-bench run resumes with its model and settings",
          "[e2e][model_bench]") {
  Sandbox box;
  hilq::runtime::test::TestModel tm;  // big enough that a job takes about a second
  tm.d = 256;
  tm.ff = 768;
  tm.layers = 4;
  tm.heads = 4;
  tm.max_seq = 256;
  const std::string model = (box.dir / "micro.safetensors").string();
  REQUIRE(hilq::model::write_model_file(model, hilq::runtime::test::make_model_file(tm)).empty());
  const std::string db_path = (box.dir / "hil.db").string();
  const pid_t pid =
      spawn_search(box, {"--port", "0", "--db", db_path, "--out", (box.dir / "out").string(),
                         "--model", model, "--settings", "FP32,W8A8,W4A8,W2A8", "--prompt-tokens",
                         "128", "--decode-tokens", "120", "--min-time", "1"});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline &&
         box.read("stderr").find("[1/4]") == std::string::npos)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  kill(pid, SIGINT);
  const auto first = wait_search(box, pid);
  INFO(first.err);
  REQUIRE(first.exit_code == 130);
  size_t kept = 0;
  {
    hilq::db::Database d(db_path);
    kept = hilq::db::RunStore(d).measurements(1).size();
  }
  REQUIRE(kept >= 1);
  REQUIRE(kept < 4);
  // No --model or --settings now: the run's own come back from the database.
  const auto second = run_search(
      box, {"--resume", "1", "--port", "0", "--db", db_path, "--out", (box.dir / "out").string()});
  INFO(second.err);
  REQUIRE(second.exit_code == 0);
  CHECK_THAT(second.err, Contains("resumed") && Contains(std::to_string(4 - kept) + " of 4 jobs"));
  hilq::db::Database d(db_path);
  hilq::db::RunStore store(d);
  CHECK(store.run(1)->status == "completed");
  std::set<std::string> labels;
  for (const auto& m : store.measurements(1)) {
    CAPTURE(m.job_id, m.error.value_or(""));
    CHECK(m.status == "ok");
    labels.insert(m.setting.value());
  }
  CHECK(labels == std::set<std::string>{"FP32", "W8A8", "W4A8", "W2A8"});
}
