// The kernel benchmarks of bench_kernels and the closing summary of the targets.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <string>

namespace hilq::kernels::bench {

struct Result {
  double real_time;  // per iteration, in the benchmark's time unit (microseconds here)
  benchmark::UserCounters counters;
};
// Every finished benchmark by name (filled by the reporter in bench_main.cpp).
inline std::map<std::string, Result>& results() {
  static std::map<std::string, Result> r;
  return r;
}

// smoke: tiny shapes only (the ctest smoke run).
void register_benchmarks(bool smoke);
// Target ratios from results(), each with pass/fail.
void print_summary(FILE* out);

}  // namespace hilq::kernels::bench
