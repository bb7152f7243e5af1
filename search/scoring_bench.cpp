// bench_scoring's measurement (see scoring_bench.h).
#include "search/scoring_bench.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "base/error.h"
#include "base/stats.h"

namespace hilq::search {
namespace {

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

}  // namespace

ScoringBench bench_scoring(const ScoringBenchOptions& o) {
  if (o.scorer.task != "lm") throw UsageError("the scoring bench measures the lm task only");
  if (o.settings.empty()) throw UsageError("no setting to measure");
  if (o.thread_counts.empty()) throw UsageError("no thread count to measure");
  if (o.repeats < 1) throw UsageError("--repeats must be at least 1");
  for (const model::Setting& s : o.settings)
    if (s.kind() == model::SettingKind::kFp16 || s.kind() == model::SettingKind::kAsStored)
      throw UsageError("--settings: " + s.label() +
                       " is not a config the search packs and scores (FP32 or a quantized "
                       "setting)");
  ScoringBench out;
  for (const int threads : o.thread_counts) {
    ScorerOptions so = o.scorer;
    so.threads = threads;
    HostScorer scorer(so, nullptr);
    // The float reference of both splits, computed once per scorer (as the search does).
    scorer.float_metric("calibration");
    scorer.float_metric("validation");
    out.calibration_windows = scorer.windows("calibration");
    out.validation_windows = scorer.windows("validation");
    out.seq = scorer.arch().max_seq;
    for (const model::Setting& setting : o.settings) {
      const model::QuantSpec spec = setting.to_quant_spec(scorer.n_layers());
      ScoringBenchRow row;
      row.setting = setting.label();
      row.threads = threads;
      row.calibration_tokens = int64_t{out.calibration_windows} * out.seq;
      row.validation_tokens = int64_t{out.validation_windows} * out.seq;
      std::vector<double> pack, load, calibration, validation, candidate_cpu, validation_cpu;
      std::vector<double> forward, log_softmax, kl;
      const double per_token_us = 1e6 / static_cast<double>(row.validation_tokens);
      for (int r = 0; r < o.repeats; ++r) {
        const double cpu0 = cpu_seconds();
        const CandidateScore c = scorer.score_transient(spec, "calibration");
        candidate_cpu.push_back(cpu_seconds() - cpu0);
        if (r == 0) row.pack_first = c.pack_seconds;
        pack.push_back(c.pack_seconds);
        load.push_back(c.load_seconds);
        calibration.push_back(c.seconds - c.pack_seconds - c.load_seconds);
        row.calibration_perplexity = c.metric;
        row.calibration_kl = c.output_kl;
      }
      const PackedCandidate packed = scorer.pack(spec);
      for (int r = 0; r < o.repeats; ++r) {
        const double cpu0 = cpu_seconds();
        const CandidateScore v = scorer.score(spec, packed, "validation");
        validation_cpu.push_back(cpu_seconds() - cpu0);
        validation.push_back(v.seconds - v.load_seconds);
        forward.push_back(v.phases.forward * per_token_us);
        log_softmax.push_back(v.phases.log_softmax * per_token_us);
        kl.push_back(v.phases.kl * per_token_us);
        row.validation_perplexity = v.metric;
        row.validation_kl = v.output_kl;
      }
      row.pack = median(pack);
      row.load = median(load);
      row.calibration = median(calibration);
      row.validation = median(validation);
      row.candidate_cpu = median(candidate_cpu);
      row.validation_cpu = median(validation_cpu);
      row.forward_us = median(forward);
      row.log_softmax_us = median(log_softmax);
      row.kl_us = median(kl);
      if (o.progress) {
        char line[320];
        std::snprintf(line, sizeof line,
                      "%s %dT: %.0f tokens/s calibration, %.0f validation, %.2f candidates/s; "
                      "us/token forward %.1f, log-softmax %.1f, KL %.1f",
                      row.setting.c_str(), threads, row.calibration_tokens_per_s(),
                      row.validation_tokens_per_s(), row.candidates_per_s(), row.forward_us,
                      row.log_softmax_us, row.kl_us);
        o.progress(line);
      }
      out.rows.push_back(row);
    }
  }
  return out;
}

std::string format_scoring_bench(const ScoringBench& b) {
  std::string s =
      "| setting | threads | calibration tokens/s | validation tokens/s | validation tokens/CPU-s "
      "| candidates/s | CPU ms/candidate | pack ms (first) | load ms | calibration ms | "
      "calibration ppl | validation ppl | validation KL | us/token: forward | log-softmax | KL "
      "|\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : b.rows) {
    char line[512];
    std::snprintf(
        line, sizeof line,
        "| %s | %d | %.0f | %.0f | %.0f | %.2f | %.0f | %.1f (%.1f) | %.1f | %.1f | %.4f "
        "| %.4f | %.5f | %.1f | %.1f | %.1f |\n",
        r.setting.c_str(), r.threads, r.calibration_tokens_per_s(), r.validation_tokens_per_s(),
        r.validation_tokens_per_cpu_s(), r.candidates_per_s(), r.candidate_cpu * 1e3, r.pack * 1e3,
        r.pack_first * 1e3, r.load * 1e3, r.calibration * 1e3, r.calibration_perplexity,
        r.validation_perplexity, r.validation_kl, r.forward_us, r.log_softmax_us, r.kl_us);
    s += line;
  }
  return s;
}

}  // namespace hilq::search
