// The search part of report.html (written by HtmlReporter only for a run with candidates): a
// line of counts and limits, a card per board with its pick, the search progress
// (progress.h), then per board (real boards first, emulated ones after, marked) scatter plots
// of the validation metric over decode ms/token, memory and energy per token (when measured),
// the pick's bit widths as a heat strip (every front member's on demand), and the board's table
// (board_rows.h).
//
//   y ^  ◆ FP32   ○ grey ring: infeasible (over the limit or the budget)
//     |  ●──┐     · grey: measured, off this plot's front     ● blue: on the front
//     |- - -●- - - - - - metric limit                         ◯ red ring: the board's pick
//     |     └─────●     FP16 ■                 FP32 17.8 MB ▸ (a baseline far off the scale
//     +-------------------> x                                   sits on the edge, value named)
#pragma once

#include <ostream>

#include "reports/run_view.h"

namespace hilq::reports {

// Writes nothing when the view has no search.
void search_html(const RunView& view, std::ostream& out);

}  // namespace hilq::reports
