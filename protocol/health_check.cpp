// Known-answer health check (see health_check.h).
#include "protocol/health_check.h"

#include <stdexcept>
#include <vector>

#include "model/sha256.h"

namespace hilq::protocol {

nlohmann::json health_check_config(uint32_t seed, int n) { return {{"n", n}, {"seed", seed}}; }

HealthAnswer compute_health_answer(const nlohmann::json& config) {
  auto n_it = config.find("n");
  auto seed_it = config.find("seed");
  if (n_it == config.end() || !n_it->is_number_integer() || seed_it == config.end() ||
      !seed_it->is_number_integer())
    throw std::invalid_argument("health-check config needs integer 'n' and 'seed'");
  const int64_t n = n_it->get<int64_t>();
  const int64_t seed = seed_it->get<int64_t>();
  if (n < 1 || n > (1 << 20) || seed < 0 || seed > 0xffffffffll)
    throw std::invalid_argument("health-check 'n' must be in [1, 1048576], 'seed' a uint32");
  // xorshift32: the same sequence on every machine, whatever its standard library.
  uint32_t state = static_cast<uint32_t>(seed) | 1u;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
  };
  std::vector<int8_t> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
  for (auto& x : a) x = static_cast<int8_t>(next() & 0xff);
  for (auto& x : b) x = static_cast<int8_t>(next() & 0xff);
  HealthAnswer answer;
  for (size_t i = 0; i < a.size(); ++i) answer.dot += int64_t{a[i]} * int64_t{b[i]};
  model::Sha256 h;
  h.update(a.data(), a.size());
  h.update(b.data(), b.size());
  answer.sha256 = h.hex();
  return answer;
}

nlohmann::json to_json(const HealthAnswer& answer) {
  return {{"dot", answer.dot}, {"sha256", answer.sha256}};
}

bool health_answer_matches(const nlohmann::json& m, const HealthAnswer& expected) {
  auto dot = m.find("dot");
  auto sha = m.find("sha256");
  return dot != m.end() && dot->is_number_integer() && dot->get<int64_t>() == expected.dot &&
         sha != m.end() && sha->is_string() && sha->get<std::string>() == expected.sha256;
}

}  // namespace hilq::protocol
