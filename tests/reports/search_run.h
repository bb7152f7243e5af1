// A quantization search run with known rows, as hil-search stores one (migration 4): constraints,
// ten candidates of every tier and status (two pruned for the same reason, two never scored,
// one over budget never measured), model-bench rows on a real and an emulated board (one failed,
// energy measured and not), each board's fronts and pick. Texts carry HTML and CSV specials.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "db/evaluation_store.h"
#include "db/run_store.h"
#include "tests/reports/known_run.h"

namespace hilq::test {

inline constexpr const char* kSearchConstraints =
    R"({"task":"lm","metric":"perplexity","max_ppl_increase":0.05,"mem_budget_bytes":3000000,)"
    R"("float_metric":20.0,"float_bytes":11900000,"metric_limit":21.0})";

// Records the search run in `d` and returns its id.
inline int64_t record_search_run(db::Database& d) {
  db::RunStore store(d);
  db::EvaluationStore evals(d);
  store.upsert_board({"local", "x86_64", R"(["avx2","fma"])", 2, 8LL << 30, "0.3.0", false});
  store.upsert_board({"pi5-qemu", "aarch64", R"(["neon","dotprod"])", 4, 8LL << 30, "0.3.0", true});
  const int64_t run = store.create_run("hil-search --search --boards local,pi5-qemu",
                                       std::string("0123abc"), kSearchConstraints);

  const struct {
    const char *label, *tier, *status;
    std::optional<std::string> reason;
    std::optional<int64_t> parent;  // index + 1 into this table
    int64_t memory_bytes;
    std::optional<double> validation, test;
  } candidates[] = {
      {"FP32", "float", "reference", std::nullopt, std::nullopt, 11900000, 20.0, 20.4},
      {"W8A8", "global", "feasible", std::nullopt, 1, 2980000, 20.1, 20.5},
      {"W4A8 g32", "global", "feasible", std::nullopt, 1, 1600000, 20.8, 21.1},
      {"W4A4", "global", "over-quality", "perplexity 24.000 > limit 21.000", 1, 1500000, 24.0,
       24.6},
      {"W4A8 b0-1 & W8A8 <rest>", "block", "feasible", std::nullopt, 3, 2200000, 20.4, 20.8},
      {"attn W8, mlp W4", "module", "feasible", std::nullopt, 5, 1900000, 20.6, 21.0},
      {"mlp W2", "module", "pruned", "sensitivity: mlp W2 > 0.5 ppl", 6, 1200000, std::nullopt,
       std::nullopt},
      {"mlp W3", "module", "pruned", "sensitivity: mlp W2 > 0.5 ppl", 6, 1300000, std::nullopt,
       std::nullopt},
      {"W8A16", "global", "over-budget", "memory 3.50 MB > budget \"3.00 MB\"", 1, 3500000, 20.05,
       std::nullopt},
      {"FP16", "float", "reference", std::nullopt, std::nullopt, 5950000, std::nullopt,
       std::nullopt},
  };
  int64_t ids[10] = {};
  for (int i = 0; i < 10; ++i) {
    const auto& c = candidates[i];
    // Four units of a two-layer model, listed out of model order; the block candidate (index 4)
    // runs layer 1's activations token-adaptive 8/4. FP32 is a float setting, no units.
    const int w[10] = {32, 8, 4, 4, 4, 8, 2, 3, 8, 16};
    const int a1 = i == 4 ? 4 : i == 3 ? 4 : 8;
    const std::string config =
        i == 0 || i == 9
            ? std::string(R"({"setting":")") + c.label + R"("})"
            : R"({"units":{"layers.1.attn.q":{"w_bits":)" + std::to_string(w[i]) + R"(,"a_bits":)" +
                  std::to_string(a1) + R"(,"group":0},"embed":{"w_bits":8,"a_bits":8,"group":0},)" +
                  R"("layers.0.mlp.down":{"w_bits":)" + std::to_string(w[i]) +
                  R"(,"a_bits":8,"group":32},"layers.0.attn.q":{"w_bits":)" +
                  std::to_string(i == 5 ? 8 : w[i]) + R"(,"a_bits":8,"group":0}},)" +
                  (i == 4 ? R"("token_adaptive":{"high_bits":8,"low_bits":4,"high_fraction":0.5}})"
                          : R"("token_adaptive":null})");
    ids[i] = evals.candidate(run, config, "hash-" + std::to_string(i), std::string(c.tier),
                             c.parent ? std::optional<int64_t>(ids[*c.parent - 1]) : std::nullopt);
    db::Statement u(d,
                    "UPDATE candidates SET label = ?, memory_bytes = ?, status = ?, reason = ?, "
                    "artifact_sha256 = ? WHERE id = ?");
    u.bind_all(std::string(c.label), c.memory_bytes, std::string(c.status), c.reason,
               "sha-" + std::to_string(i), ids[i])
        .run();
    if (c.validation) evals.record({ids[i], "validation", "perplexity", *c.validation});
    if (c.test) evals.record({ids[i], "test", "perplexity", *c.test});
    evals.record({ids[i], "calibration", "perplexity", 19.0});  // not shown
  }

  const struct {
    const char* board;
    int candidate;  // index + 1
    double decode_ms;
    std::optional<double> energy_per_token_j;
    bool ok;
  } measured[] = {
      {"local", 1, 0.80, 0.0031, true},         {"local", 2, 0.30, 0.0012, true},
      {"local", 3, 0.18, 0.0008, true},         {"local", 5, 0.24, std::nullopt, true},
      {"local", 6, 0.26, std::nullopt, true},   {"pi5-qemu", 1, 16.0, std::nullopt, true},
      {"pi5-qemu", 3, 3.6, std::nullopt, true}, {"pi5-qemu", 5, 4.8, std::nullopt, true},
      {"pi5-qemu", 6, 0, std::nullopt, false},  {"local", 10, 0.54, std::nullopt, true},
  };
  int job = 0;
  for (const auto& s : measured) {
    const int64_t id = ids[s.candidate - 1];
    auto m = measurement(run, s.board, "c-" + std::to_string(++job), "model-bench",
                         R"({"candidate":)" + std::to_string(id) + "}");
    m.candidate_id = id;
    m.emulated = std::string(s.board) == "pi5-qemu";
    if (!s.ok) {
      m.status = "failed";
      m.error_class = "runtime";
      m.error = "model load: <out of memory>";
      store.record_measurement(m);
      continue;
    }
    m.setting = candidates[s.candidate - 1].label;
    m.kernel = "gemv_w4a8_g32_1x16__avx2";
    m.latency_median_ns = s.decode_ms * 1e6;
    m.decode_ms_median = s.decode_ms;
    m.decode_ms_p90 = s.decode_ms * 1.25;
    m.prefill_ms = s.decode_ms * 20;
    m.tokens_per_s = 1e3 / s.decode_ms;
    m.model_bytes = candidates[s.candidate - 1].memory_bytes;
    m.peak_rss_bytes = 24 * 1048576;
    m.energy_per_token_j = s.energy_per_token_j;
    if (s.energy_per_token_j)
      m.power_source = "rapl";
    else
      m.power_unavailable = m.emulated ? "emulated board" : "RAPL not readable: <permission>";
    store.record_measurement(m);
  }

  auto front = [&](const char* board, const char* pair, std::initializer_list<int> members) {
    for (const int i : members) {
      db::Statement s(d,
                      "INSERT INTO pareto (run_id, board, objective_pair, candidate_id) "
                      "VALUES (?, ?, ?, ?)");
      s.bind_all(run, std::string(board), std::string(pair), ids[i - 1]).run();
    }
  };
  front("local", "metric-latency", {3, 5, 2});
  front("local", "metric-memory", {3, 6, 5, 2});
  front("local", "metric-energy", {3, 2});
  front("pi5-qemu", "metric-latency", {3, 5});
  front("pi5-qemu", "metric-memory", {3, 5});
  auto pick = [&](const char* board, const char* rule, int i, std::optional<double> score) {
    db::Statement s(d,
                    "INSERT INTO picks (run_id, board, rule, candidate_id, score) "
                    "VALUES (?, ?, ?, ?, ?)");
    s.bind_all(run, std::string(board), std::string(rule), ids[i - 1], score).run();
  };
  pick("local", "tradeoff mu=0.5", 5, 0.4321);
  pick("pi5-qemu", "lexicographic", 3, std::nullopt);
  store.finish_run(run, "completed", std::string("search done"));
  return run;
}

}  // namespace hilq::test
