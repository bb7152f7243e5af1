// A board's table rows and its energy status (see board_rows.h).
#include "reports/board_rows.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "reports/html_reporter.h"

namespace hilq::reports {

std::optional<double> BoardRow::memory_mb() const {
  if (!candidate || !candidate->memory_bytes) return std::nullopt;
  return static_cast<double>(*candidate->memory_bytes) / 1e6;
}

std::vector<BoardRow> board_rows(const RunView& view, const BoardSearch& board) {
  const SearchView& s = *view.search;
  std::vector<int64_t> ids;
  for (const auto& c : s.candidates)
    if (c.baseline() && view.candidate_measurement(c.id, board.board)) ids.push_back(c.id);
  for (const auto& [pair, members] : board.fronts)
    ids.insert(ids.end(), members.begin(), members.end());
  if (board.pick) ids.push_back(board.pick->candidate_id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::vector<BoardRow> rows;
  for (const int64_t id : ids) {
    const Candidate* c = s.candidate(id);
    if (!c) continue;
    BoardRow r;
    r.candidate = c;
    r.measurement = view.candidate_measurement(id, board.board);
    r.baseline = c->baseline();
    r.pick = board.pick && board.pick->candidate_id == id;
    for (const auto& [pair, members] : board.fronts)
      if (std::find(members.begin(), members.end(), id) != members.end())
        r.fronts.push_back(pair.rfind("metric-", 0) == 0 ? pair.substr(7) : pair);
    if (r.measurement) r.speedup_over_fp16 = decode_speedup_over_fp16(view, *r.measurement);
    rows.push_back(std::move(r));
  }
  // Fastest decode first (unmeasured last), then by id: the order is the same in every file.
  auto decode = [](const BoardRow& r) {
    return r.measurement && r.measurement->model.decode_median_ms
               ? *r.measurement->model.decode_median_ms
               : HUGE_VAL;
  };
  std::stable_sort(rows.begin(), rows.end(),
                   [&](const BoardRow& a, const BoardRow& b) { return decode(a) < decode(b); });
  return rows;
}

BoardEnergy board_energy(const RunView& view, const std::string& board) {
  BoardEnergy e;
  std::map<std::string, int> reasons;
  for (const auto& m : view.measurements) {
    if (m.board != board || !m.ok || m.job_kind != JobKind::kModelBench) continue;
    ++e.rows;
    if (m.model.energy_per_token_j)
      ++e.measured;
    else
      ++reasons[m.energy.unavailable.value_or("the agent gave no reason")];
  }
  int most = 0;
  for (const auto& [reason, n] : reasons)
    if (n > most) {
      most = n;
      e.reason = reason;
    }
  return e;
}

std::string energy_note_html(const std::string& board, const BoardEnergy& e) {
  if (e.rows == 0 || e.measured == e.rows) return "";
  std::string text =
      "<p class='energy-note'><b>Energy per token unavailable</b> on " + html_escape(board);
  if (e.measured > 0)
    text += " for " + std::to_string(e.rows - e.measured) + " of " + std::to_string(e.rows) +
            " measurements";
  return text + ": " + html_escape(e.reason) + "</p>";
}

}  // namespace hilq::reports
