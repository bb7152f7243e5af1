// A fixed list of trials per board (see fixed_list.h).
#include "search/fixed_list.h"

#include <algorithm>

namespace hilq::search {

FixedList::FixedList(std::vector<Trial> trials) : total_(trials.size()) {
  for (auto& t : trials) boards_[t.board].trials.push_back(std::move(t));
}

std::vector<Trial> FixedList::next_batch(const std::string& board, size_t max_trials) {
  std::vector<Trial> out;
  auto it = boards_.find(board);
  if (it == boards_.end()) return out;
  Board& b = it->second;
  const size_t n = std::min(max_trials, b.trials.size() - b.next);
  out.assign(b.trials.begin() + static_cast<std::ptrdiff_t>(b.next),
             b.trials.begin() + static_cast<std::ptrdiff_t>(b.next + n));
  b.next += n;
  return out;
}

void FixedList::tell(const Trial&, const db::MeasurementRow& result) {
  ++(result.status == "ok" ? ok_ : failed_);
}

bool FixedList::done() const {
  return std::all_of(boards_.begin(), boards_.end(),
                     [](const auto& b) { return b.second.next >= b.second.trials.size(); });
}

void FixedList::restore(const std::vector<Trial>& proposed) {
  for (const auto& t : proposed) {
    auto it = boards_.find(t.board);
    if (it != boards_.end() && it->second.next < it->second.trials.size()) ++it->second.next;
  }
}

}  // namespace hilq::search
