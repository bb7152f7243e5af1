// The search part of report.html (written by HtmlReporter only for a run with candidates): one
// run-level line of counts, then per board two inline SVG scatter plots (validation metric over
// decode ms/token and over memory), its front joined by a step line, its pick named, the metric
// limit and memory budget dashed, and a table of the front members.
//
//   y ^   · grey: measured, not on this plot's front     ● blue: on the front
//     |  ●──┐                                            ◯ red ring: the board's pick
//     |- - -●- - - - - - - metric limit                  ┆ memory budget (memory plot)
//     |     └──────●
//     +-------------------> x (decode ms/token median | memory MB)
#pragma once

#include <ostream>

#include "reports/run_view.h"

namespace hilq::reports {

// Writes nothing when the view has no search.
void search_html(const RunView& view, std::ostream& out);

}  // namespace hilq::reports
