// ABBA rounds and the decision to add one (see ab_strategy.h).
#include "host/ab_strategy.h"

#include "base/error.h"

namespace hilq::host {

AbStrategy::AbStrategy(const std::vector<search::Trial>& configs, reports::VerdictParams params)
    : params_(params) {
  for (const auto& t : configs) {
    Config c{t, reports::config_key(t.kind, t.config)};
    for (const auto& other : boards_[t.board].configs)
      if (other.key == c.key)
        throw ConfigError("A/B run: two configs of board " + t.board + " share the key " + c.key);
    boards_[t.board].configs.push_back(std::move(c));
  }
  for (auto& [name, board] : boards_) plan_round(name, board);
}

void AbStrategy::plan_round(const std::string& name, Board& board) {
  const std::vector<reports::TestResult> tests = reports::evaluate(results_, params_);
  for (auto& c : board.configs) {
    bool more = c.rounds < params_.min_rounds;
    if (!more && c.rounds < params_.max_rounds)
      for (const auto& t : tests)
        if (t.board == name && t.config == c.key && t.verdict == reports::Verdict::kInconclusive &&
            t.more_rounds_help)
          more = true;
    if (!more) continue;
    ++c.rounds;
    for (int slot = 0; slot < 4; ++slot)
      board.plan.push_back({name, c.key, reports::arm_of_slot(slot), c.rounds, slot});
  }
  board.finished = board.plan.empty();
}

std::vector<search::Trial> AbStrategy::next_batch(const std::string& queue, size_t max_trials) {
  const auto split = reports::split_arm_queue(queue);
  if (!split || max_trials == 0) return {};
  auto it = boards_.find(split->first);
  if (it == boards_.end()) return {};
  Board& board = it->second;
  if (board.in_flight || board.plan.empty() || board.plan.front().arm != split->second) return {};
  const reports::AbSlot slot = board.plan.front();
  board.plan.pop_front();
  board.in_flight = true;
  for (const auto& c : board.configs)
    if (c.key == slot.config) {
      search::Trial t = c.trial;
      t.board = queue;
      t.tag = reports::to_json(slot);
      return {t};
    }
  throw std::logic_error("A/B plan names an unknown config " + slot.config);
}

void AbStrategy::tell(const search::Trial& trial, const db::MeasurementRow& result) {
  if (trial.tag.is_null()) return;
  const reports::AbSlot slot = reports::ab_slot_from_json(trial.tag);
  results_.push_back(reports::ab_job_from_row(result, slot));
  auto it = boards_.find(slot.board);
  if (it == boards_.end()) return;
  it->second.in_flight = false;
  if (it->second.plan.empty()) plan_round(slot.board, it->second);
}

bool AbStrategy::done() const {
  for (const auto& [name, board] : boards_)
    if (!board.finished || board.in_flight) return false;
  return true;
}

void AbStrategy::restore(const std::vector<search::Trial>& proposed) {
  if (!proposed.empty())
    throw ConfigError(
        "an A/B run cannot be resumed (how many rounds it runs depends on its results): start "
        "a new one");
}

}  // namespace hilq::host
