// Measurement primitives of the agent: latency statistics over kept samples, peak resident
// memory of the current job, and the machine facts reported in HELLO.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "protocol/jobs.h"

namespace hilq::agent {

// The statistics type of the wire format (protocol/jobs.h), so results carry it as computed.
using LatencyStats = protocol::LatencySummary;
using protocol::to_json;

// Percentiles by linear interpolation between order statistics; MAD = median |x - median|.
LatencyStats latency_stats(std::vector<double> samples_ns);

// Peak RSS of this process since the last reset_peak_rss() (VmHWM after writing 5 to
// /proc/self/clear_refs). When the reset is refused, the peak is since process start and
// `method` says so. The agent is long-lived, so the peak includes its own baseline RSS: the
// worker reports that baseline (VmRSS just before the job) next to it, and the job's own peak
// is the difference ("measuring deltas", not a fresh process per job).
struct PeakRss {
  int64_t bytes = 0;
  std::string method;  // "vmhwm-reset" | "vmhwm-since-start" | "getrusage"
};
bool reset_peak_rss();
PeakRss read_peak_rss(bool was_reset);

// VmRSS now (bytes), the baseline the job's peak is measured against; -1 when unreadable.
int64_t current_rss_bytes();

int online_cores();
int64_t total_memory_bytes();
// MemAvailable (bytes): what a job may allocate without swapping or the OOM killer; -1 unknown.
int64_t available_memory_bytes();

}  // namespace hilq::agent
