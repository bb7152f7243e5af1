// The search section of report.html (see pareto_html.h). Every text from the DB (labels, tiers,
// reasons, rules, board names) goes through html_escape.
#include "reports/pareto_html.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "reports/bit_strip.h"
#include "reports/board_rows.h"
#include "reports/format.h"
#include "reports/html_reporter.h"
#include "reports/progress.h"
#include "reports/svg_plot.h"

namespace hilq::reports {
namespace {

constexpr double kMB = 1e6;

enum class Plot { kLatency, kMemory, kEnergy };

const char* objective_name(Plot p) {
  return p == Plot::kLatency ? "latency" : p == Plot::kMemory ? "memory" : "energy";
}

std::string metric_text(const SearchConstraints& c, const std::optional<double>& v) {
  return fixed(v, c.higher_is_better() ? 4 : 3);
}

// An id fragment from a board name: letters, digits and '-' only.
std::string slug(const std::string& s) {
  std::string out;
  for (const char ch : s)
    out += std::isalnum(static_cast<unsigned char>(ch)) ? static_cast<char>(std::tolower(ch)) : '-';
  return out;
}

std::string strip_id(const std::string& board, int64_t id) {
  return "bits-" + slug(board) + "-" + std::to_string(id);
}

std::optional<double> mb(const std::optional<int64_t>& bytes) {
  if (!bytes) return std::nullopt;
  return static_cast<double>(*bytes) / kMB;
}

// The x of a candidate on a board's plot; empty when it has none there.
std::optional<double> x_of(Plot plot, const Candidate& c, const Measurement* m) {
  switch (plot) {
    case Plot::kMemory:
      return mb(c.memory_bytes);
    case Plot::kEnergy:
      if (m && m->model.energy_per_token_j) return *m->model.energy_per_token_j * 1e3;
      return std::nullopt;
    case Plot::kLatency:
      if (!m) return std::nullopt;
      if (m->model.decode_median_ms) return m->model.decode_median_ms;
      if (m->latency.median) return *m->latency.median / 1e6;
      return std::nullopt;
  }
  return std::nullopt;
}

enum class Kind { kFront, kMeasured, kInfeasible, kBaseline };

struct Dot {
  const Candidate* c;
  const Measurement* m;
  double x, y;
  Kind kind;
  bool pick;
};

// A point's tooltip: the config summary and every figure the board has for it.
std::string tooltip(const RunView& view, const BoardSearch& board, const Dot& d) {
  const SearchConstraints& c = view.search->constraints;
  std::ostringstream t;
  t << html_escape(d.c->label) << " (" << html_escape(d.c->tier) << ", " << html_escape(d.c->status)
    << ")" << (d.pick ? " — the pick" : "") << "&#10;validation " << html_escape(c.metric) << " "
    << metric_text(c, d.c->validation);
  if (d.c->test) t << " · test " << metric_text(c, d.c->test);
  if (d.c->memory_bytes) t << "&#10;memory " << fixed(*mb(d.c->memory_bytes), 2) << " MB";
  if (d.m && d.m->model.decode_median_ms) {
    t << " · decode " << fixed(d.m->model.decode_median_ms, 3) << " ms/token";
    if (d.m->model.decode_p90_ms) t << " (p90 " << fixed(d.m->model.decode_p90_ms, 3) << ")";
    if (const auto s = decode_speedup_over_fp16(view, *d.m)) t << " · ×" << fixed(*s, 2) << " FP16";
    if (d.m->model.energy_per_token_j)
      t << " · " << fixed(*d.m->model.energy_per_token_j * 1e3, 3) << " mJ/token";
  }
  std::string fronts;
  for (const auto& [pair, ids] : board.fronts)
    if (std::find(ids.begin(), ids.end(), d.c->id) != ids.end())
      fronts += (fronts.empty() ? "" : ", ") + pair.substr(pair.rfind('-') + 1);
  if (!fronts.empty()) t << "&#10;on the " << html_escape(fronts) << " front";
  if (d.c->reason) t << "&#10;" << html_escape(*d.c->reason);
  return t.str();
}

std::string marker(const Dot& d, double x, double y) {
  std::ostringstream s;
  if (d.kind == Kind::kBaseline) {
    if (d.c->label == "FP32")
      s << "<path class='baseline' d='M" << coord(x) << " " << coord(y - 6) << "l6 6l-6 6l-6 -6Z'"
        << " fill='" << palette::kBaseline << "'>";
    else
      s << "<rect class='baseline' x='" << coord(x - 4.5) << "' y='" << coord(y - 4.5)
        << "' width='9' height='9' fill='" << palette::kBaseline << "'>";
    return s.str();
  }
  s << "<circle class='"
    << (d.kind == Kind::kFront      ? "dot front"
        : d.kind == Kind::kMeasured ? "dot"
                                    : "dot infeasible")
    << "' cx='" << coord(x) << "' cy='" << coord(y) << "' r='"
    << (d.kind == Kind::kFront ? 4.5 : 3.5) << "'";
  if (d.kind == Kind::kFront)
    s << " fill='" << palette::kFront << "' stroke='#fff' stroke-width='1'";
  else if (d.kind == Kind::kMeasured)
    s << " fill='" << palette::kGrey << "'";
  else
    s << " fill='#fff' stroke='" << palette::kGrey << "' stroke-width='1.5'";
  s << ">";
  return s.str();
}

void scatter_svg(const RunView& view, const BoardSearch& board, Plot plot, std::ostream& out) {
  const SearchView& s = *view.search;
  const SearchConstraints& c = s.constraints;
  const std::string pair = std::string("metric-") + objective_name(plot);
  std::vector<Dot> dots;
  std::vector<std::pair<const Candidate*, double>> x_only;  // baselines the search did not score
  for (const auto& cand : s.candidates) {
    if (!cand.validation) {
      if (cand.baseline())
        if (const auto x = x_of(plot, cand, view.candidate_measurement(cand.id, board.board)))
          x_only.emplace_back(&cand, *x);
      continue;
    }
    const Measurement* m = view.candidate_measurement(cand.id, board.board);
    const auto x = x_of(plot, cand, m);
    if (!x) continue;
    Kind kind = Kind::kMeasured;
    if (cand.baseline())
      kind = Kind::kBaseline;
    else if (board.on_front(pair, cand.id))
      kind = Kind::kFront;
    else if (cand.status != "feasible")
      kind = Kind::kInfeasible;
    else if (!m && plot == Plot::kMemory)
      continue;  // feasible but never measured on this board: not this board's candidate
    dots.push_back(
        {&cand, m, *x, *cand.validation, kind, board.pick && board.pick->candidate_id == cand.id});
  }
  const bool cls = c.task == "cls";
  const std::string x_title = plot == Plot::kMemory   ? "memory (MB, weights as packed)"
                              : plot == Plot::kEnergy ? "energy per token (mJ)"
                              : cls                   ? "latency (ms, median)"
                                                      : "decode (ms/token, median)";
  const std::string title = html_escape(board.board) + ": " +
                            (plot == Plot::kMemory   ? "memory"
                             : plot == Plot::kEnergy ? "energy"
                             : cls                   ? "latency"
                                                     : "decode latency") +
                            (board.emulated && plot != Plot::kMemory ? " (emulated)" : "");
  std::ostringstream svg;
  svg_open(svg, 480, 330,
           "class='plot' data-board='" + html_escape(board.board) + "' data-objective='" +
               objective_name(plot) + "' role='img' aria-label='" + title + "'");
  if (dots.empty()) {
    svg << "<text x='20' y='40'>" << title << ": no measured candidate to plot</text></svg>";
    out << svg.str();
    return;
  }
  // x: the searched candidates (and the budget) set the scale; a baseline more than 40 % beyond
  // it is drawn on the edge with its value instead of squashing everything else.
  double x_hi = 0, y_lo = HUGE_VAL, y_hi = -HUGE_VAL;
  bool any_core = false;
  for (const auto& d : dots)
    if (d.kind != Kind::kBaseline) {
      x_hi = std::max(x_hi, d.x);
      any_core = true;
    }
  const bool has_budget = plot == Plot::kMemory && c.mem_budget_bytes.has_value();
  const double budget_mb =
      has_budget ? static_cast<double>(c.mem_budget_bytes.value_or(0)) / kMB : 0.0;
  if (has_budget) x_hi = std::max(x_hi, budget_mb);
  const double core_x_hi = x_hi;
  for (const auto& d : dots)
    if (d.kind == Kind::kBaseline && (!any_core || d.x <= core_x_hi * 1.4))
      x_hi = std::max(x_hi, d.x);
  for (const auto& [cand, x] : x_only)
    if (!any_core || x <= core_x_hi * 1.4) x_hi = std::max(x_hi, x);
  // y: feasible and baseline points and the limit set the scale; infeasible ones far beyond sit
  // on the edge.
  for (const auto& d : dots)
    if (d.kind != Kind::kInfeasible) {
      y_lo = std::min(y_lo, d.y);
      y_hi = std::max(y_hi, d.y);
    }
  if (c.metric_limit) {
    y_lo = std::min(y_lo, *c.metric_limit);
    y_hi = std::max(y_hi, *c.metric_limit);
  }
  if (!(y_lo <= y_hi)) y_lo = y_hi = dots[0].y;
  const double y_span = std::max(y_hi - y_lo, std::abs(y_hi) * 0.01);
  for (const auto& d : dots)
    if (d.kind == Kind::kInfeasible) {
      if (d.y <= y_hi + 0.5 * y_span) y_hi = std::max(y_hi, d.y);
      if (d.y >= y_lo - 0.5 * y_span) y_lo = std::min(y_lo, d.y);
    }
  Frame f;
  f.width = 480;
  f.height = 330;
  f.x = Axis(0, x_hi, true);
  f.y = Axis(y_lo, y_hi, false);
  if (board.emulated && plot != Plot::kMemory)
    svg << "<rect class='emulated' x='" << f.left << "' y='" << f.top << "' width='"
        << coord(f.plot_w()) << "' height='" << coord(f.plot_h()) << "' fill='#fff7ed'/><text x='"
        << f.left + 6 << "' y='" << coord(f.y_max_px() - 6)
        << "' fill='#c2410c' font-weight='600'>EMULATED (qemu): not board timings</text>";
  frame_svg(svg, f, title, x_title, "validation " + html_escape(c.metric));
  if (c.metric_limit) {
    const std::string y = coord(f.py(*c.metric_limit));
    svg << "<line class='limit' x1='" << f.left << "' y1='" << y << "' x2='" << coord(f.x_max_px())
        << "' y2='" << y << "' stroke='" << palette::kPick << "' stroke-dasharray='5,4'/><text x='"
        << coord(f.x_max_px() - 4) << "' y='" << coord(f.py(*c.metric_limit) - 4)
        << "' text-anchor='end' fill='" << palette::kPick << "'>limit "
        << metric_text(c, c.metric_limit) << "</text>";
  }
  if (has_budget) {
    const std::string x = coord(f.px(budget_mb));
    svg << "<line class='budget' x1='" << x << "' y1='" << f.top << "' x2='" << x << "' y2='"
        << coord(f.y_max_px()) << "' stroke='" << palette::kPick
        << "' stroke-dasharray='5,4'/><text x='" << coord(f.px(budget_mb) - 4) << "' y='"
        << f.top + 12 << "' text-anchor='end' fill='" << palette::kPick << "'>budget "
        << fixed(budget_mb, 2) << " MB</text>";
  }
  // The front as an attainment curve: across to the next member's x, then to its y; the region
  // it dominates lightly shaded up to the frame.
  std::vector<const Dot*> front;
  for (const auto& d : dots)
    if (d.kind == Kind::kFront) front.push_back(&d);
  std::sort(front.begin(), front.end(), [](const Dot* a, const Dot* b) { return a->x < b->x; });
  if (!front.empty()) {
    const double worse = c.higher_is_better() ? f.y_max_px() : f.top;
    std::string line = "M" + coord(f.px(front[0]->x)) + " " + coord(f.py(front[0]->y));
    for (size_t i = 1; i < front.size(); ++i)
      line += "H" + coord(f.px(front[i]->x)) + "V" + coord(f.py(front[i]->y));
    const std::string area = "M" + coord(f.px(front[0]->x)) + " " + coord(worse) + "V" +
                             line.substr(line.find(' ') + 1) + "H" + coord(f.x_max_px()) + "V" +
                             coord(worse) + "Z";
    svg << "<path d='" << area << "' fill='" << palette::kFront << "' fill-opacity='0.05'/>";
    svg << "<path class='front' d='" << line << "H" << coord(f.x_max_px())
        << "' fill='none' stroke='" << palette::kFront << "' stroke-width='1.8'/>";
  }
  // Grey first, the front on top, baselines and the pick last.
  const Dot* pick = nullptr;
  std::vector<double> offscale_y;  // labels already on the right edge: the next one goes below
  for (const Kind layer : {Kind::kInfeasible, Kind::kMeasured, Kind::kFront, Kind::kBaseline})
    for (const auto& d : dots) {
      if (d.kind != layer) continue;
      if (d.pick) pick = &d;
      double x = f.px(d.x), y = f.py(d.y);
      const bool off_x = x > f.x_max_px(), off_y = y < f.top || y > f.y_max_px();
      if (off_y) y = y < f.top ? f.top + 3 : f.y_max_px() - 3;
      if (off_x) {
        // A baseline off the scale: an arrow on the right edge, named with its value.
        x = f.x_max_px() - 2;
        for (bool moved = true; moved;) {
          moved = false;
          for (const double taken : offscale_y)
            if (std::abs(taken - y) < 15) {
              y = taken - 15;
              moved = true;
            }
        }
        offscale_y.push_back(y);
        svg << "<g class='offscale'><path d='M" << coord(x - 8) << " " << coord(y - 6)
            << "l8 6l-8 6Z' fill='" << palette::kBaseline << "'/><text x='" << coord(x - 11)
            << "' y='" << coord(y + 4) << "' text-anchor='end' class='halo' fill='"
            << palette::kBaseline << "'>" << html_escape(d.c->label) << " "
            << fixed(d.x, plot == Plot::kLatency ? 3 : 2)
            << (plot == Plot::kMemory   ? " MB"
                : plot == Plot::kEnergy ? " mJ"
                                        : " ms")
            << "</text><title>" << tooltip(view, board, d) << "</title></g>";
        continue;
      }
      svg << "<a href='#" << strip_id(board.board, d.c->id) << "'>" << marker(d, x, y) << "<title>"
          << tooltip(view, board, d) << "</title></"
          << (d.kind != Kind::kBaseline ? "circle"
              : d.c->label == "FP32"    ? "path"
                                        : "rect")
          << "></a>";
      if (d.kind == Kind::kBaseline)
        svg << "<text x='" << coord(x + 9) << "' y='" << coord(y + 4) << "' fill='"
            << palette::kBaseline << "' font-weight='600'>" << html_escape(d.c->label) << "</text>";
    }
  // A baseline with a figure on this axis but no metric (FP16 when only FP32 was scored): a
  // dotted vertical line, or an arrow on the edge when off the scale.
  for (const auto& [cand, value] : x_only) {
    const std::string unit = plot == Plot::kMemory ? " MB" : plot == Plot::kEnergy ? " mJ" : " ms";
    const std::string text =
        html_escape(cand->label) + " " + fixed(value, plot == Plot::kLatency ? 3 : 2) + unit;
    const std::string why = text + " (no " + html_escape(c.metric) + " scored)";
    if (f.px(value) <= f.x_max_px()) {
      const std::string x = coord(f.px(value));
      svg << "<g class='baseline'><line x1='" << x << "' y1='" << f.top << "' x2='" << x << "' y2='"
          << coord(f.y_max_px()) << "' stroke='" << palette::kBaseline
          << "' stroke-dasharray='2,3'/><text x='" << coord(f.px(value) + 3) << "' y='"
          << f.top + 24 << "' fill='" << palette::kBaseline << "' font-weight='600'>"
          << html_escape(cand->label) << "</text><title>" << why << "</title></g>";
      continue;
    }
    double y = f.y_max_px() - 16;
    for (bool moved = true; moved;) {
      moved = false;
      for (const double taken : offscale_y)
        if (std::abs(taken - y) < 15) {
          y = taken - 15;
          moved = true;
        }
    }
    offscale_y.push_back(y);
    const double x = f.x_max_px() - 2;
    svg << "<g class='offscale baseline'><path d='M" << coord(x - 8) << " " << coord(y - 6)
        << "l8 6l-8 6Z' fill='" << palette::kBaseline << "'/><text x='" << coord(x - 11) << "' y='"
        << coord(y + 4) << "' text-anchor='end' class='halo' fill='" << palette::kBaseline << "'>"
        << text << "</text><title>" << why << "</title></g>";
  }
  // QAT: an arrow from each trained candidate's PTQ parent to it (same config, learned steps).
  for (const auto& d : dots) {
    if (d.c->tier != "qat" || !d.c->parent_id) continue;
    const auto parent = std::find_if(dots.begin(), dots.end(),
                                     [&](const Dot& p) { return p.c->id == *d.c->parent_id; });
    if (parent == dots.end()) continue;
    const double x0 = f.px(parent->x), y0 = f.py(parent->y), x1 = f.px(d.x), y1 = f.py(d.y);
    const double len = std::hypot(x1 - x0, y1 - y0);
    if (len < 8) continue;  // QAT changed nothing visible here
    const double ux = (x1 - x0) / len, uy = (y1 - y0) / len;
    const double tx = x1 - 5 * ux, ty = y1 - 5 * uy;  // the tip stops at the dot's edge
    svg << "<g class='qat-arrow'><line x1='" << coord(x0 + 4 * ux) << "' y1='" << coord(y0 + 4 * uy)
        << "' x2='" << coord(tx - 6 * ux) << "' y2='" << coord(ty - 6 * uy) << "' stroke='"
        << palette::kAxis << "' stroke-width='1.2'/><path d='M" << coord(tx) << " " << coord(ty)
        << "L" << coord(tx - 7 * ux - 3.5 * uy) << " " << coord(ty - 7 * uy + 3.5 * ux) << "L"
        << coord(tx - 7 * ux + 3.5 * uy) << " " << coord(ty - 7 * uy - 3.5 * ux) << "Z' fill='"
        << palette::kAxis << "'/><title>QAT of " << html_escape(parent->c->label) << ": validation "
        << html_escape(c.metric) << " " << metric_text(c, parent->y) << " to "
        << metric_text(c, d.y) << "</title></g>";
  }
  if (pick) {
    const double x = std::min(f.px(pick->x), f.x_max_px()), y = f.py(pick->y);
    svg << "<circle class='pick' cx='" << coord(x) << "' cy='" << coord(y)
        << "' r='9' fill='none' stroke='" << palette::kPick << "' stroke-width='2.2'/>";
    const bool right_half = f.x.frac(pick->x) > 0.6;
    svg << "<text x='" << coord(x + (right_half ? -12 : 12)) << "' y='" << coord(y - 8) << "'"
        << (right_half ? " text-anchor='end'" : "") << " class='halo' class='halo' fill='"
        << palette::kPick << "' font-weight='600'>pick</text>";
  }
  svg << "</svg>";
  out << svg.str();
}

void legend_html(const SearchView& s, const BoardSearch& board, std::ostream& out) {
  out << "<div class='legend'><span><i style='background:" << palette::kFront
      << "'></i>on this plot's front</span><span><i style='background:" << palette::kGrey
      << "'></i>measured, off the front</span><span><i class='ring'></i>over the limit or "
         "budget</span><span>◆ FP32 ■ FP16</span><span><i class='pickring'></i>pick"
      << (board.pick ? " (" + html_escape(board.pick->rule) + ")" : "")
      << "</span><span class='dash'>limit, budget</span>";
  if (std::any_of(s.candidates.begin(), s.candidates.end(),
                  [](const Candidate& c) { return c.tier == "qat"; }))
    out << "<span>→ QAT (Squat) of a PTQ candidate</span>";
  // Pruned moves have no metric (never scored): counted here, not drawn.
  if (const int pruned = s.count("pruned"))
    out << "<span class='note'>" << pruned << " pruned move" << (pruned > 1 ? "s" : "")
        << " not scored, not drawn</span>";
  out << "</div>";
}

// The kernels that ran, in short, every name in the tooltip.
std::string kernel_cell(const std::optional<std::string>& kernels) {
  if (!kernels || kernels->empty()) return "—";
  return "<code class='k' title='" + html_escape(*kernels) + "'>" +
         html_escape(kernel_summary(*kernels)) + "</code>";
}

void board_table(const RunView& view, const BoardSearch& board, const std::vector<BoardRow>& rows,
                 std::ostream& h) {
  const SearchConstraints& c = view.search->constraints;
  if (rows.empty()) {
    h << "<p>No front stored for this board.</p>";
    return;
  }
  const std::string metric = html_escape(c.metric);
  h << "<div class='scroll'><table><tr><th class='l'>configuration</th>"
       "<th>validation "
    << metric << "</th><th>test " << metric
    << "</th><th>decode ms/token</th><th>p90</th><th>prefill ms</th><th>tokens/s</th>"
       "<th>memory MB</th><th>energy mJ/token</th><th>× FP16</th><th class='l'>kernel</th>"
       "<th class='l'>fronts</th></tr>";
  for (const BoardRow& r : rows) {
    const Candidate& cand = *r.candidate;
    const Measurement* m = r.measurement;
    std::string label;
    if (cand.units.empty()) {
      label = html_escape(cand.label);
    } else {
      label = "<a href='#";
      label += strip_id(board.board, cand.id);
      label += "'>";
      label += html_escape(cand.label);
      label += "</a>";
    }
    if (r.pick) label += " <span class='badge pick'>pick</span>";
    auto cell = [](const std::string& v) { return v.empty() ? std::string("—") : v; };
    h << "<tr"
      << (r.pick       ? " class='pick'"
          : r.baseline ? " class='baseline'"
                       : "")
      << "><td class='l cfg'>" << label << " <span class='tier'>" << html_escape(cand.tier)
      << "</span></td><td>" << cell(metric_text(c, cand.validation)) << "</td><td>"
      << cell(metric_text(c, cand.test)) << "</td><td>"
      << cell(fixed(m ? m->model.decode_median_ms : std::nullopt, 3)) << "</td><td>"
      << cell(fixed(m ? m->model.decode_p90_ms : std::nullopt, 3)) << "</td><td>"
      << cell(fixed(m ? m->model.prefill_ms : std::nullopt, 2)) << "</td><td>"
      << cell(fixed(m ? m->model.tokens_per_s : std::nullopt, 0)) << "</td><td>"
      << cell(fixed(r.memory_mb(), 2)) << "</td><td>"
      << cell(m && m->model.energy_per_token_j ? fixed(*m->model.energy_per_token_j * 1e3, 3) : "")
      << "</td><td>" << cell(fixed(r.speedup_over_fp16, 2)) << "</td><td class='l kern'>"
      << kernel_cell(m ? m->kernel : std::nullopt) << "</td><td class='l'>";
    for (size_t i = 0; i < r.fronts.size(); ++i) h << (i ? ", " : "") << html_escape(r.fronts[i]);
    h << "</td></tr>";
  }
  h << "</table></div>";
}

void strip_block(const RunView& view, const BoardSearch& board, const Candidate& c,
                 const Measurement* m, std::ostream& out) {
  const SearchConstraints& k = view.search->constraints;
  out << "<figure class='strip' id='" << strip_id(board.board, c.id) << "'><figcaption><b>"
      << html_escape(c.label) << "</b> · " << html_escape(k.metric) << " "
      << metric_text(k, c.validation) << " · " << fixed(mb(c.memory_bytes), 2) << " MB";
  if (m && m->model.decode_median_ms)
    out << " · " << fixed(m->model.decode_median_ms, 3) << " ms/token";
  out << "</figcaption>";
  out << "<div class='scroll'>";
  bit_strip_svg(c, "class='bits'", out);
  out << "</div></figure>";
}

void board_section(const RunView& view, const BoardSearch& board, std::ostream& out) {
  const SearchView& s = *view.search;
  out << "<section class='card board" << (board.emulated ? " emulated" : "") << "' id='board-"
      << slug(board.board) << "'><h2>Pareto — " << html_escape(board.board)
      << (board.emulated ? " (emulated)" : "") << "</h2>";
  if (board.emulated)
    out << "<p class='emulated-note'>Emulated board: it ran under qemu, so its decode times check "
           "the code path and are not board timings; memory and the metric hold.</p>";
  const BoardEnergy energy = board_energy(view, board.board);
  out << energy_note_html(board.board, energy);
  out << "<div class='plots'>";
  scatter_svg(view, board, Plot::kLatency, out);
  scatter_svg(view, board, Plot::kMemory, out);
  if (energy.any()) scatter_svg(view, board, Plot::kEnergy, out);
  out << "</div>";
  legend_html(s, board, out);
  // The pick's bit widths, then every other front member's on demand.
  const std::vector<BoardRow> rows = board_rows(view, board);
  const Candidate* pick = board.pick ? s.candidate(board.pick->candidate_id) : nullptr;
  if (pick && !pick->units.empty()) {
    out << "<h3>Chosen configuration</h3>";
    strip_block(view, board, *pick, view.candidate_measurement(pick->id, board.board), out);
    bit_legend_html(out);
  }
  int others = 0;
  for (const BoardRow& r : rows)
    if (!r.pick && !r.candidate->units.empty()) ++others;
  if (others > 0) {
    out << "<details class='strips'><summary>Bit widths of the other " << others << " front member"
        << (others > 1 ? "s" : "") << "</summary>";
    for (const BoardRow& r : rows)
      if (!r.pick && !r.candidate->units.empty())
        strip_block(view, board, *r.candidate, r.measurement, out);
    out << "</details>";
  }
  out << "<h3>Front members and baselines</h3>";
  board_table(view, board, rows, out);
  out << "</section>";
}

// "N candidates, S scored on validation: F feasible, P pruned (most common reasons), ...".
void summary(const SearchView& s, std::ostream& h) {
  const SearchConstraints& c = s.constraints;
  h << "<section class='card'><h2>Search</h2><p>" << s.candidates.size() << " candidates, "
    << s.scored << " scored on the validation split: " << s.count("feasible") << " feasible, "
    << s.count("pruned") << " pruned";
  if (!s.pruned_reasons.empty()) {
    h << " (";
    const size_t shown = std::min<size_t>(s.pruned_reasons.size(), 3);
    for (size_t i = 0; i < shown; ++i)
      h << (i ? "; " : "") << html_escape(s.pruned_reasons[i].first) << " ×"
        << s.pruned_reasons[i].second;
    if (shown < s.pruned_reasons.size()) h << "; " << s.pruned_reasons.size() - shown << " more";
    h << ")";
  }
  for (const auto& [status, n] : s.status_counts)
    if (status != "feasible" && status != "pruned")
      h << ", " << n << " " << html_escape(status.empty() ? "without status" : status);
  h << ".";
  if (!c.strategy.empty()) h << " Strategy: " << html_escape(c.strategy) << ".";
  if (c.metric_limit) {
    h << "<br>Limit: validation " << html_escape(c.metric) << (c.higher_is_better() ? " ≥ " : " ≤ ")
      << metric_text(c, c.metric_limit);
    if (c.float_metric) h << " (float " << metric_text(c, c.float_metric);
    if (c.float_metric && c.max_ppl_increase)
      h << ", +" << fixed(*c.max_ppl_increase * 100, 1) << "%";
    if (c.float_metric && c.max_acc_drop) h << ", −" << fixed(*c.max_acc_drop * 100, 1) << " pt";
    if (c.float_metric) h << ")";
  }
  if (c.mem_budget_bytes) {
    h << (c.metric_limit ? "; " : "<br>") << "memory budget "
      << fixed(static_cast<double>(*c.mem_budget_bytes) / kMB, 2) << " MB";
    if (c.float_bytes)
      h << " (float " << fixed(static_cast<double>(*c.float_bytes) / kMB, 2) << " MB)";
  }
  h << "</p></section>";
}

// One card per board: what it picked and what that buys over FP16.
void pick_cards(const RunView& view, std::ostream& out) {
  const SearchView& s = *view.search;
  out << "<div class='cards'>";
  for (const auto& board : s.boards) {
    out << "<a class='pickcard" << (board.emulated ? " emulated" : "") << "' href='#board-"
        << slug(board.board) << "'><div class='board-name'>" << html_escape(board.board)
        << (board.emulated ? " <span class='badge emu'>emulated</span>" : "") << "</div>";
    const Candidate* c = board.pick ? s.candidate(board.pick->candidate_id) : nullptr;
    if (!c) {
      out << "<div class='note'>no pick</div></a>";
      continue;
    }
    const Measurement* m = view.candidate_measurement(c->id, board.board);
    out << "<div class='pick-label'>" << html_escape(c->label) << "</div><div class='figs'>"
        << html_escape(s.constraints.metric) << " <b>" << metric_text(s.constraints, c->validation)
        << "</b> · <b>" << fixed(mb(c->memory_bytes), 2) << "</b> MB";
    if (m && m->model.decode_median_ms)
      out << " · <b>" << fixed(m->model.decode_median_ms, 3) << "</b> ms/token";
    if (m)
      if (const auto sp = decode_speedup_over_fp16(view, *m))
        out << " · <b>×" << fixed(*sp, 2) << "</b> FP16";
    out << "</div></a>";
  }
  out << "</div>";
}

}  // namespace

void search_html(const RunView& view, std::ostream& out) {
  if (!view.search) return;
  summary(*view.search, out);
  pick_cards(view, out);
  progress_html(view, out);
  // Real boards first; emulated ones after them, apart.
  for (const bool emulated : {false, true})
    for (const auto& board : view.search->boards)
      if (board.emulated == emulated) board_section(view, board, out);
}

}  // namespace hilq::reports
