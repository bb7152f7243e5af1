// The health check: a tiny job with a known answer that the host sends to every agent before any
// real work. An agent that answers wrongly (broken build, bad memory, wrong binary) is
// quarantined. The answer is an int8 dot product and a sha256 over deterministic pseudo-random
// data, so it exercises integer arithmetic and memory, not timing.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace hilq::protocol {

inline constexpr const char* kHealthCheckKind = "health-check";

struct HealthAnswer {
  int64_t dot = 0;
  std::string sha256;
  bool operator==(const HealthAnswer&) const = default;
};

// Config {"n": N, "seed": S}; N in [1, 1<<20].
nlohmann::json health_check_config(uint32_t seed, int n = 4096);
// Throws std::invalid_argument on a config outside the bounds above.
HealthAnswer compute_health_answer(const nlohmann::json& config);
nlohmann::json to_json(const HealthAnswer& answer);
// True when the RESULT measurement carries exactly the expected answer.
bool health_answer_matches(const nlohmann::json& measurement, const HealthAnswer& expected);

}  // namespace hilq::protocol
