// Regression verdicts of a paired, interleaved A/B run: the baseline and the candidate build
// measured alternately on the same board in ABBA rounds; per (board, config, metric) a round
// gives one log-ratio ln(candidate / baseline) of the arms' round medians, and the rounds decide.
//
//   round r of config c on board b:   A B B A   (four jobs; A = baseline, B = candidate)
//   per arm: median of the pooled raw samples of its two jobs -> one ratio per round
//   estimate  Hodges-Lehmann of the log-ratios, its 95 % CI, Wilcoxon signed-rank p, then
//             Benjamini-Hochberg over every test of the run
//   REGRESSED     adjusted p < alpha, CI above ln(1 + delta/2), estimate above ln(1 + delta)
//   IMPROVED      the mirror image (a faster candidate is not "inconclusive")
//   SAME          CI inside +-ln(1 + delta)
//   INCONCLUSIVE  anything else, too few usable rounds, or too many dropped (throttled/failed)
// Memory is compared exactly in bytes (it is deterministic); energy with its own delta, when
// both arms measured it.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "db/database.h"
#include "db/measurement_store.h"

namespace hilq::reports {

inline constexpr const char* kBaselineArm = "baseline";
inline constexpr const char* kCandidateArm = "candidate";

enum class Verdict { kRegressed, kSame, kImproved, kInconclusive };
const char* verdict_name(Verdict v);  // REGRESSED, SAME, IMPROVED, INCONCLUSIVE
Verdict verdict_from_name(const std::string& name);

struct VerdictParams {
  double alpha = 0.01;
  double delta_latency = 0.03;  // relative
  double delta_energy = 0.05;
  int min_rounds = 8;         // a signed-rank test cannot reach p < 0.01 with fewer than 8 pairs
  int max_rounds = 30;        // the cap: still undecided then is INCONCLUSIVE, never a silent pass
  double max_dropped = 0.25;  // more than this fraction of rounds dropped: INCONCLUSIVE
  double confidence = 0.95;
};
nlohmann::json to_json(const VerdictParams& p);
// Reads what to_json wrote; missing keys keep the defaults.
VerdictParams verdict_params_from_json(const nlohmann::json& j);

// Where one job sits in an A/B run (stored in ab_jobs; the strategy's trial tag).
struct AbSlot {
  std::string board;   // the physical board (the broker's queue is "<board>@<arm>")
  std::string config;  // config key (config_key())
  std::string arm;     // baseline | candidate
  int round = 0;       // from 1
  int slot = 0;        // 0..3: position in the round's A B B A
};
nlohmann::json to_json(const AbSlot& s);
AbSlot ab_slot_from_json(const nlohmann::json& j);
// The arm of ABBA position `slot` (0 and 3 baseline, 1 and 2 candidate).
const char* arm_of_slot(int slot);
// The broker queue of a board's arm, and back ("local@candidate" <-> {"local", "candidate"}).
std::string arm_queue(const std::string& board, const std::string& arm);
std::optional<std::pair<std::string, std::string>> split_arm_queue(const std::string& queue);

// A short, stable name of a job config: "gemv-w8a8-256x256" (kernel-bench),
// "W4A8-p16-d16-t1" (model-bench), "noop".
std::string config_key(const std::string& kind, const nlohmann::json& config);

// One finished job of an A/B run with what the verdict reads of it.
struct AbJob {
  std::string job_id;
  AbSlot slot;
  bool ok = false;
  std::string error;
  bool throttled = false;
  std::string throttle_reason;
  std::map<std::string, std::vector<double>> samples_ns;  // latency metric -> raw samples
  std::optional<int64_t> memory_bytes;                    // deterministic figures summed
  std::optional<double> energy_j;                         // per inference / token
  std::string energy_unavailable;
  std::string agent_version;
};
// A measurement row (kernel-bench: metric "latency"; model-bench: "decode" and "prefill").
AbJob ab_job_from_row(const db::MeasurementRow& row, const AbSlot& slot);

struct RoundValue {
  int round = 0;
  std::optional<double> baseline, candidate;  // the arms' round values (absent when dropped)
  std::string dropped;                        // why the round was dropped, or empty
};

struct TestResult {
  std::string board, config, metric;
  std::string method;  // "signed-rank" or "exact bytes"
  double delta = 0;    // the threshold used (relative; 0 for exact)
  int rounds = 0, rounds_used = 0, rounds_dropped = 0, throttled = 0, failed = 0;
  std::optional<double> estimate;         // candidate / baseline (Hodges-Lehmann, as a ratio)
  std::optional<double> median_ratio;     // median of the per-round ratios
  std::optional<double> ci_low, ci_high;  // as ratios
  std::optional<double> p, p_adjusted;
  std::optional<double> baseline_value, candidate_value;  // medians of the round values
  Verdict verdict = Verdict::kInconclusive;
  std::string reason;
  bool more_rounds_help = true;  // an INCONCLUSIVE that more rounds could settle
  std::string baseline_version, candidate_version;
  std::vector<RoundValue> round_values;
};

// Every test of the jobs (of one run, any boards), decided with BH across the statistical ones.
// Only complete rounds (all four jobs finished) count.
std::vector<TestResult> evaluate(const std::vector<AbJob>& jobs, const VerdictParams& params);

// Energy not compared, per (board, config): why (no sensor...), for the report.
std::map<std::string, std::string> unmeasured_energy(const std::vector<AbJob>& jobs);

// 0 no regression, 3 a regression, 4 inconclusive or no test at all (insufficient data).
int verdict_exit_code(const std::vector<TestResult>& tests);

// The A/B jobs of a run (ab_jobs joined with its measurements) and the run's parameters.
std::vector<AbJob> load_ab_jobs(db::Database& db, int64_t run_id);
VerdictParams load_verdict_params(db::Database& db, int64_t run_id);

}  // namespace hilq::reports
