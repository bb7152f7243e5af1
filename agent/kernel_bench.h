// kernel-bench jobs: time one kernel on random data of a given shape, with warm-up and repeats,
// and return every sample plus statistics and peak memory.
//
// Job config: {"op": "gemv"|"gemm", "w_bits": 2..8, "a_bits": 4|8, "group": 0|32|64|128,
//              "m": rows, "k": depth, "n": tokens, "threads": t, "isa": "avx2"..., "seed": s}
#pragma once

#include <nlohmann/json.hpp>

#include "protocol/message.h"

namespace hilq::agent {

// Thrown for a config the agent cannot run; becomes an ERROR of class bad-request.
class BadJobConfig : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// test_slowdown (hil-agent --test-slowdown, a fraction): every timed call is stretched by a busy
// wait to (1 + test_slowdown) times its own duration, and the result says so.
nlohmann::json run_kernel_bench(const nlohmann::json& config, const protocol::RepeatPolicy& repeat,
                                double test_slowdown = 0);

// Bytes a kernel-bench job of this shape allocates, at most: float weights, activations and
// outputs, the packed weights and their scales.
int64_t kernel_bench_bytes(int64_t m, int64_t k, int64_t n, int w_bits);
// Throws BadJobConfig (a bad-request naming the shape and both sizes) when a shape needs more than
// `available_bytes`; a negative `available_bytes` (unknown) lets every shape through.
void check_kernel_bench_memory(int64_t m, int64_t k, int64_t n, int w_bits,
                               int64_t available_bytes);

}  // namespace hilq::agent
