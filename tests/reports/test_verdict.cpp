// The three-way rule on synthetic A/B rounds: a clear regression, a clear sameness, a spread that
// stays inconclusive, too few rounds, throttled rounds dropped (and too many of them), memory in
// exact bytes, Benjamini-Hochberg across the tests of a run, and the exit codes.
#include <catch2/catch.hpp>
#include <functional>

#include "reports/verdict.h"

namespace reports = hilq::reports;
using reports::AbJob;
using reports::Verdict;

namespace {

struct Synth {
  std::string config = "gemv-w8a8-256x256";
  int rounds = 10;
  std::function<double(int)> ratio = [](int) { return 1.0; };  // candidate / baseline, round r
  std::function<bool(int)> throttled = [](int) { return false; };
  int64_t base_bytes = 1000, cand_bytes = 1000;
};

// Four jobs per round (A B B A), each with three identical samples, so an arm's round median is
// its designed value: baseline 100 us, candidate 100 us x ratio(r).
std::vector<AbJob> synth(const Synth& s) {
  std::vector<AbJob> jobs;
  for (int r = 1; r <= s.rounds; ++r)
    for (int slot = 0; slot < 4; ++slot) {
      AbJob j;
      j.slot = {"local", s.config, reports::arm_of_slot(slot), r, slot};
      j.job_id = s.config + "-" + std::to_string(r) + "-" + std::to_string(slot);
      j.ok = true;
      const bool cand = j.slot.arm == reports::kCandidateArm;
      const double v = 100e3 * (cand ? s.ratio(r) : 1.0);
      j.samples_ns["latency"] = {v, v, v};
      j.memory_bytes = cand ? s.cand_bytes : s.base_bytes;
      j.throttled = s.throttled(r) && slot == 2;
      if (j.throttled) j.throttle_reason = "cpu0 frequency fell 30%";
      j.agent_version = cand ? "0.1+cand" : "0.1+base";
      jobs.push_back(std::move(j));
    }
  return jobs;
}

const reports::TestResult& find(const std::vector<reports::TestResult>& tests,
                                const std::string& config, const std::string& metric) {
  for (const auto& t : tests)
    if (t.config == config && t.metric == metric) return t;
  throw std::out_of_range("no test " + config + " " + metric);
}

// Small alternating noise around `centre`: +-0.2 %, different in every round.
double around(double centre, int r) { return centre * (1 + 0.002 * ((r * 7) % 5 - 2) / 2.0); }

}  // namespace

TEST_CASE("A 6 % slowdown over 10 rounds is REGRESSED", "[verdict]") {
  Synth s;
  s.ratio = [](int r) { return around(1.06, r); };
  const auto tests = reports::evaluate(synth(s), {});
  const auto& t = find(tests, s.config, "latency");
  CHECK(t.verdict == Verdict::kRegressed);
  CHECK(*t.estimate == Approx(1.06).epsilon(0.003));
  CHECK(*t.ci_low > 1.015);
  CHECK(*t.p == Approx(2.0 / 1024));  // every round positive
  CHECK(t.rounds_used == 10);
  CHECK(t.baseline_version == "0.1+base");
  CHECK(t.candidate_version == "0.1+cand");
  CHECK(*t.baseline_value == Approx(100e3));
  CHECK(find(tests, s.config, "memory_bytes").verdict == Verdict::kSame);
  CHECK(reports::verdict_exit_code(tests) == 3);
}

TEST_CASE("Ratios within +-0.2 % are SAME; a faster candidate is IMPROVED", "[verdict]") {
  Synth s;
  s.ratio = [](int r) { return around(1.0, r); };
  auto tests = reports::evaluate(synth(s), {});
  auto t = find(tests, s.config, "latency");
  CHECK(t.verdict == Verdict::kSame);
  CHECK(*t.ci_low > 0.97);
  CHECK(*t.ci_high < 1.03);
  CHECK(reports::verdict_exit_code(tests) == 0);

  s.ratio = [](int r) { return around(0.9, r); };
  tests = reports::evaluate(synth(s), {});
  CHECK(find(tests, s.config, "latency").verdict == Verdict::kImproved);
  CHECK(reports::verdict_exit_code(tests) == 0);
}

TEST_CASE("A spread across +-10 % stays INCONCLUSIVE; fewer than 8 rounds is too few",
          "[verdict]") {
  Synth s;
  s.ratio = [](int r) { return r % 2 ? 1.10 - 0.01 * r : 0.92 + 0.01 * r; };
  auto tests = reports::evaluate(synth(s), {});
  auto t = find(tests, s.config, "latency");
  CHECK(t.verdict == Verdict::kInconclusive);
  CHECK(t.more_rounds_help);
  CHECK_THAT(t.reason, Catch::Contains("not inside"));
  CHECK(reports::verdict_exit_code(tests) == 4);

  // 7 clean rounds of a 6 % slowdown: below the minimum of 8.
  s.rounds = 7;
  s.ratio = [](int r) { return around(1.06, r); };
  tests = reports::evaluate(synth(s), {});
  t = find(tests, s.config, "latency");
  CHECK(t.verdict == Verdict::kInconclusive);
  CHECK_THAT(t.reason, Catch::Contains("insufficient data"));
  CHECK(reports::verdict_exit_code({}) == 4);  // no test at all: insufficient data
}

TEST_CASE("Throttled rounds are dropped and counted; too many is a board problem", "[verdict]") {
  Synth s;
  s.rounds = 12;
  // The throttled rounds would look like a huge regression if they counted.
  s.ratio = [](int r) { return r == 3 || r == 7 ? 1.5 : around(1.0, r); };
  s.throttled = [](int r) { return r == 3 || r == 7; };
  auto tests = reports::evaluate(synth(s), {});
  auto t = find(tests, s.config, "latency");
  CHECK(t.rounds == 12);
  CHECK(t.rounds_dropped == 2);
  CHECK(t.throttled == 2);
  CHECK(t.rounds_used == 10);
  CHECK(t.verdict == Verdict::kSame);
  CHECK_THAT(t.round_values[2].dropped, Catch::Contains("throttled"));

  s.throttled = [](int r) { return r <= 4; };  // 4 of 12 > 25 %
  tests = reports::evaluate(synth(s), {});
  t = find(tests, s.config, "latency");
  CHECK(t.verdict == Verdict::kInconclusive);
  CHECK_THAT(t.reason, Catch::Contains("board problem"));
}

TEST_CASE("A failed job drops its round; an incomplete round is not counted", "[verdict]") {
  Synth s;
  s.ratio = [](int r) { return around(1.0, r); };
  auto jobs = synth(s);
  jobs[5].ok = false;  // round 2, slot 1
  jobs[5].error = "runtime: injected";
  jobs.pop_back();  // round 10 lacks its last A
  const auto tests = reports::evaluate(jobs, {});
  const auto& t = find(tests, s.config, "latency");
  CHECK(t.rounds == 9);
  CHECK(t.rounds_dropped == 1);
  CHECK(t.failed == 1);
  CHECK(t.rounds_used == 8);
}

TEST_CASE("Memory is compared exactly in bytes", "[verdict]") {
  Synth s;
  s.cand_bytes = 1001;
  auto tests = reports::evaluate(synth(s), {});
  auto m = find(tests, s.config, "memory_bytes");
  CHECK(m.verdict == Verdict::kRegressed);
  CHECK(m.reason == "candidate +1 bytes");
  CHECK(!m.p);  // not a statistical test: outside BH
  CHECK(reports::verdict_exit_code(tests) == 3);

  s.cand_bytes = 999;
  tests = reports::evaluate(synth(s), {});
  CHECK(find(tests, s.config, "memory_bytes").verdict == Verdict::kImproved);

  auto jobs = synth(Synth{});
  jobs[4].memory_bytes = 1234;  // a baseline job of round 2 disagrees with the others
  tests = reports::evaluate(jobs, {});
  m = find(tests, "gemv-w8a8-256x256", "memory_bytes");
  CHECK(m.verdict == Verdict::kInconclusive);
  CHECK(!m.more_rounds_help);
}

TEST_CASE("Benjamini-Hochberg: 8 rounds decide alone but not among three tests", "[verdict]") {
  Synth slow;
  slow.rounds = 8;
  slow.ratio = [](int r) { return around(1.06, r); };  // p = 2/256 = 0.0078 < 0.01
  auto tests = reports::evaluate(synth(slow), {});
  CHECK(find(tests, slow.config, "latency").verdict == Verdict::kRegressed);

  auto jobs = synth(slow);
  for (const char* other : {"gemv-w8a8-768x256", "gemv-w8a8-256x768"}) {
    Synth same;
    same.config = other;
    same.rounds = 8;
    same.ratio = [](int r) { return around(1.0, r); };
    const auto more = synth(same);
    jobs.insert(jobs.end(), more.begin(), more.end());
  }
  tests = reports::evaluate(jobs, {});
  const auto& t = find(tests, slow.config, "latency");
  CHECK(*t.p == Approx(2.0 / 256));
  CHECK(*t.p_adjusted == Approx(3 * 2.0 / 256));  // smallest of three: x3
  CHECK(t.verdict == Verdict::kInconclusive);
}

TEST_CASE("Energy is judged with its own delta when every job measured it", "[verdict]") {
  Synth s;
  s.ratio = [](int r) { return around(1.0, r); };
  auto jobs = synth(s);
  for (auto& j : jobs) j.energy_j = j.slot.arm == reports::kCandidateArm ? 1.04 : 1.0;
  auto tests = reports::evaluate(jobs, {});
  auto e = find(tests, s.config, "energy");
  CHECK(e.delta == Approx(0.05));
  CHECK(*e.estimate == Approx(1.04));
  // +4 % everywhere: the CI [1.04, 1.04] is inside +-5 %, so SAME (a 4 % latency change would
  // not be).
  CHECK(e.verdict == Verdict::kSame);
  jobs[0].energy_j.reset();
  jobs[0].energy_unavailable = "no sensor";
  tests = reports::evaluate(jobs, {});
  CHECK_THROWS(find(tests, s.config, "energy"));
  CHECK(reports::unmeasured_energy(jobs).begin()->second == "no sensor");
}

TEST_CASE("Config keys, slots and arm queues are stable names", "[verdict]") {
  CHECK(reports::config_key(
            "kernel-bench",
            {{"op", "gemv"}, {"w_bits", 4}, {"a_bits", 8}, {"m", 256}, {"k", 768}, {"seed", 3}}) ==
        "gemv-w4a8-256x768");
  CHECK(reports::config_key(
            "model-bench",
            {{"setting", "W4A8"}, {"prompt_tokens", 16}, {"decode_tokens", 8}, {"threads", 1}}) ==
        "W4A8-p16-d8-t1");
  CHECK(std::string(reports::arm_of_slot(0)) == "baseline");
  CHECK(std::string(reports::arm_of_slot(1)) == "candidate");
  CHECK(std::string(reports::arm_of_slot(2)) == "candidate");
  CHECK(std::string(reports::arm_of_slot(3)) == "baseline");
  CHECK(reports::arm_queue("pi5", "candidate") == "pi5@candidate");
  const auto split = reports::split_arm_queue("pi5@candidate");
  REQUIRE(split);
  CHECK(split->first == "pi5");
  CHECK(!reports::split_arm_queue("pi5"));
  const reports::AbSlot slot{"local", "c", "baseline", 3, 0};
  const auto back = reports::ab_slot_from_json(reports::to_json(slot));
  CHECK(back.round == 3);
  CHECK(back.arm == "baseline");
  reports::VerdictParams p;
  p.alpha = 0.05;
  p.max_rounds = 12;
  const auto q = reports::verdict_params_from_json(reports::to_json(p));
  CHECK(q.alpha == 0.05);
  CHECK(q.max_rounds == 12);
}
