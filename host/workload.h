// The jobs a run sends to each board. For now: kernel-bench jobs over the shapes of the tiny
// model and one out-of-cache shape; the search (search/) will generate candidates here later.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/protocol/message.h"

namespace hilq::host {

struct Workload {
  std::vector<protocol::Job> jobs;
  const protocol::Job* find(const std::string& job_id) const;
};

// Job ids are unique across runs ("r<run>-<board>-<n>"): the measurements table keys on them.
Workload kernel_bench_workload(int64_t run_id, const std::string& board, double min_time_s);
// `count` trivial jobs (kind noop, optionally sleeping sleep_ms on the agent): broker fault tests
// and the throughput benchmark.
Workload noop_workload(int64_t run_id, const std::string& board, int count, int sleep_ms);

}  // namespace hilq::host
