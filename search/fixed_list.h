// The simplest strategy: a fixed list of trials per board (today's settings list, kernel-bench
// shapes, noop jobs), handed out in order as boards have room; results change nothing.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "search/strategy.h"

namespace hilq::search {

class FixedList : public Strategy {
 public:
  // Trials of every board; each board's are proposed in the order given.
  explicit FixedList(std::vector<Trial> trials);

  std::vector<Trial> next_batch(const std::string& board, size_t max_trials) override;
  void tell(const Trial& trial, const db::MeasurementRow& result) override;
  bool done() const override;
  // Skips, per board, as many trials as the earlier session proposed there.
  void restore(const std::vector<Trial>& proposed) override;
  std::optional<size_t> planned() const override { return total_; }

  size_t results_ok() const { return ok_; }
  size_t results_failed() const { return failed_; }

 private:
  struct Board {
    std::vector<Trial> trials;
    size_t next = 0;
  };
  std::map<std::string, Board> boards_;
  size_t total_ = 0;
  size_t ok_ = 0, failed_ = 0;
};

}  // namespace hilq::search
