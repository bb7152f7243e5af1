// Latency of a model on this machine: prefill of a prompt and token-by-token decode, repeated
// under a time/count policy. hil-run --bench prints it; the agent's model-bench job reports it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/mkmp.h"
#include "runtime/model.h"
#include "runtime/session.h"

namespace hilq::runtime {

struct BenchOptions {
  int prompt_tokens = 128;  // the paper's latency setting (Squat: 128-token input)
  int decode_tokens = 128;  // decoded (greedy) after each prefill, each one timed
  int warmup = 1;           // whole runs discarded first
  int min_runs = 3;         // then runs until both min_runs and min_time_s are reached
  int max_runs = 1000;
  double min_time_s = 1.0;
  uint64_t seed = 1;  // prompt token ids (uniform over the vocabulary)
  // Test-only (hil-agent --test-slowdown): every timed step is stretched by this fraction.
  double test_slowdown = 0;
};

struct BenchResult {
  std::string label;               // Model::label()
  std::vector<double> prefill_ns;  // one per run (classifier: one classify() per run)
  std::vector<double> decode_ns;   // one per decoded token, all runs
  // The same steps in CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID): on a shared
  // machine it leaves out the time other processes held the core. Only the caller's thread is
  // counted, so it means something with one kernel thread.
  std::vector<double> prefill_cpu_ns, decode_cpu_ns;
  std::vector<int32_t> tokens;  // greedy tokens of the first timed run (compare across paths)
  std::string kernels;          // '+'-joined kernels that ran
  MemoryUse memory;
  int context = 0;  // KV cache capacity used
  int runs = 0;
};

BenchResult run_bench(const Model& model, kernels::Context& ctx, const BenchOptions& options);

// Test-only: stretches the step that began at t0 with a busy wait until it has taken (1 +
// fraction) times its own duration so far, so a known slowdown can be injected into a build
// (hil-agent --test-slowdown PCT). A busy wait, not a sleep: it holds the core like real work.
void stretch_step(std::chrono::steady_clock::time_point t0, double fraction);

// Order statistic by linear interpolation (q in [0, 1]); 0 for an empty sample.
double percentile(std::vector<double> v, double q);
// Deterministic prompt ids for benchmarks.
std::vector<int32_t> bench_prompt(int n, int vocab, uint64_t seed);
int32_t argmax(const float* v, int n);

}  // namespace hilq::runtime
