// kernel-bench jobs: time one kernel on random data of a given shape, with warm-up and repeats,
// and return every sample plus statistics and peak memory.
//
// Job config: {"op": "gemv", "w_bits": 8, "a_bits": 8, "m": rows, "k": depth, "seed": n}
#pragma once

#include <nlohmann/json.hpp>

#include "agent/protocol/message.h"

namespace hilq::agent {

// Thrown for a config the agent cannot run; becomes an ERROR of class bad-request.
class BadJobConfig : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

nlohmann::json run_kernel_bench(const nlohmann::json& config, const protocol::RepeatPolicy& repeat);

}  // namespace hilq::agent
