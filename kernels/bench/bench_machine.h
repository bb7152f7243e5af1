// Machine figures that the kernel benchmarks are compared with, measured in the same run: STREAM-
// like read bandwidth (1 and 2 threads) and the int8 MAC peak of the best path.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/mkmp.h"

namespace hilq::kernels::bench {

struct Machine {
  int64_t llc_bytes = 0;          // last-level cache, from /sys
  double read_bw[3] = {0, 0, 0};  // bytes/s with 1 and 2 threads ([1], [2])
  double mac_peak = 0;            // int8 MAC/s, 1 thread, best path
  std::string mac_peak_path;      // e.g. "avx512vnni vpdpbusd zmm"
  double mac_peak_avx2 = 0;       // int8 MAC/s, 1 thread, AVX2 (x86 only, else 0)
  double mac_peak_avxvnni = 0;    // int8 MAC/s, 1 thread, vpdpbusd ymm (0 without AVX-VNNI)
};

// Filled by measure_machine() before the benchmarks run.
Machine& machine();
int64_t read_llc_bytes();
// 90th-percentile rate of n_windows 8 MiB reads cycling through a buffer of 4x LLC (>= 256 MiB).
double measure_read_bw(int threads, int n_windows);
// Bytes/s of one 8 MiB DRAM read window on ctx's pool (interleaved with kernel calls).
double read_window(Context& ctx, int threads);
double measure_mac_peak(std::string* path);
double measure_mac_peak_avx2();
double measure_mac_peak_avxvnni();
void measure_machine(bool quick);

}  // namespace hilq::kernels::bench
