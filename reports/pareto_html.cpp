// The search section of report.html (see pareto_html.h). Every text from the DB (labels, tiers,
// reasons, rules, board names) goes through html_escape.
#include "reports/pareto_html.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "reports/format.h"
#include "reports/html_reporter.h"

namespace hilq::reports {
namespace {

constexpr double kMB = 1e6;

enum class Plot { kLatency, kMemory };

std::string metric_text(const SearchConstraints& c, const std::optional<double>& v) {
  return fixed(v, c.higher_is_better() ? 4 : 3);
}

// The x of a candidate's dot on a board: its decode time per token there (median; a classifier's
// latency median when it has no decode) or its memory; empty without a successful measurement.
std::optional<double> x_of(Plot plot, const Candidate& c, const Measurement* m) {
  if (!m) return std::nullopt;
  if (plot == Plot::kMemory) {
    if (!c.memory_bytes) return std::nullopt;
    return static_cast<double>(*c.memory_bytes) / kMB;
  }
  if (m->model.decode_median_ms) return m->model.decode_median_ms;
  if (m->latency.median) return *m->latency.median / 1e6;
  return std::nullopt;
}

// Linear axis over [lo, hi] with about four "nice" ticks (1, 2 or 5 times a power of ten).
struct Axis {
  double lo = 0, hi = 1;
  double step = 1;
  int digits = 0;
  Axis(double lo_in, double hi_in, bool from_zero) {
    if (from_zero) lo_in = std::min(0.0, lo_in);
    double span = hi_in - lo_in;
    if (!(span > 0)) span = std::max(std::abs(hi_in) * 0.1, 1e-3);
    const double pad = from_zero ? 0.0 : span * 0.08;
    lo = lo_in - pad;
    hi = hi_in + std::max(span * 0.08, 1e-9);
    const double raw = (hi - lo) / 4;
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    step = mag;
    for (const double f : {1.0, 2.0, 5.0, 10.0})
      if (f * mag >= raw) {
        step = f * mag;
        break;
      }
    digits = std::max(0, -static_cast<int>(std::floor(std::log10(step))));
  }
  std::vector<double> ticks() const {
    std::vector<double> out;
    // Whole multiples of the step, counted in integers (no drift from adding steps up).
    for (auto i = std::llround(std::ceil(lo / step)); static_cast<double>(i) * step <= hi; ++i)
      out.push_back(static_cast<double>(i) * step);
    return out;
  }
  double frac(double v) const { return (v - lo) / (hi - lo); }
};

struct Dot {
  const Candidate* candidate;
  double x, y;
  bool front, pick;
};

void scatter_svg(const RunView& view, const BoardSearch& board, Plot plot, std::ostream& out) {
  const SearchView& s = *view.search;
  const SearchConstraints& c = s.constraints;
  const std::string pair = plot == Plot::kLatency ? "metric-latency" : "metric-memory";
  std::vector<Dot> dots;
  for (const auto& cand : s.candidates) {
    const auto x = x_of(plot, cand, view.candidate_measurement(cand.id, board.board));
    if (!x || !cand.validation) continue;
    dots.push_back({&cand, *x, *cand.validation, board.on_front(pair, cand.id),
                    board.pick && board.pick->candidate_id == cand.id});
  }
  const std::string x_name = plot == Plot::kMemory ? "memory MB"
                             : c.task == "cls"     ? "latency ms (median)"
                                                   : "decode ms/token (median)";
  // The title's short name (the axis says median); an emulated board's timings are marked there.
  const std::string x_short = plot == Plot::kMemory ? "memory"
                              : c.task == "cls"     ? "latency"
                                                    : "decode ms/token";
  if (dots.empty()) {
    out << "<p>No measured candidate with a validation " << html_escape(c.metric)
        << " to plot over " << x_name << ".</p>";
    return;
  }
  double x_lo = dots[0].x, x_hi = dots[0].x, y_lo = dots[0].y, y_hi = dots[0].y;
  for (const auto& d : dots) {
    x_lo = std::min(x_lo, d.x);
    x_hi = std::max(x_hi, d.x);
    y_lo = std::min(y_lo, d.y);
    y_hi = std::max(y_hi, d.y);
  }
  // A plain double and a flag: GCC 12 misreads an optional's storage here (maybe-uninitialized).
  const bool has_budget = plot == Plot::kMemory && c.mem_budget_bytes.has_value();
  const double budget_mb =
      has_budget ? static_cast<double>(c.mem_budget_bytes.value_or(0)) / kMB : 0.0;
  if (has_budget) x_hi = std::max(x_hi, budget_mb);
  if (c.metric_limit) {
    y_lo = std::min(y_lo, *c.metric_limit);
    y_hi = std::max(y_hi, *c.metric_limit);
  }
  const Axis ax(x_lo, x_hi, /*from_zero=*/true), ay(y_lo, y_hi, /*from_zero=*/false);
  const int width = 460, height = 320, left = 62, right = 16, top = 30, bottom = 44;
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  auto px = [&](double x) { return left + ax.frac(x) * plot_w; };
  auto py = [&](double y) { return top + (1 - ay.frac(y)) * plot_h; };

  std::ostringstream svg;  // default precision (6 digits) for coordinates, whatever out's is
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height
      << "' font-family='sans-serif' font-size='11'>";
  svg << "<text x='" << left << "' y='16'>" << html_escape(board.board) << ": validation "
      << html_escape(c.metric) << " over " << x_short
      << (board.emulated && plot == Plot::kLatency ? " (emulated timings)" : "") << "</text>";
  for (const double t : ax.ticks()) {
    svg << "<line x1='" << px(t) << "' y1='" << top << "' x2='" << px(t) << "' y2='" << top + plot_h
        << "' stroke='#eee'/>";
    svg << "<text x='" << px(t) << "' y='" << top + plot_h + 14 << "' text-anchor='middle'>"
        << fixed(t, ax.digits) << "</text>";
  }
  for (const double t : ay.ticks()) {
    svg << "<line x1='" << left << "' y1='" << py(t) << "' x2='" << left + plot_w << "' y2='"
        << py(t) << "' stroke='#eee'/>";
    svg << "<text x='" << left - 4 << "' y='" << py(t) + 4 << "' text-anchor='end'>"
        << fixed(t, ay.digits) << "</text>";
  }
  svg << "<line x1='" << left << "' y1='" << top + plot_h << "' x2='" << left + plot_w << "' y2='"
      << top + plot_h << "' stroke='#444'/><line x1='" << left << "' y1='" << top << "' x2='"
      << left << "' y2='" << top + plot_h << "' stroke='#444'/>";
  svg << "<text x='" << left + plot_w / 2 << "' y='" << height - 6 << "' text-anchor='middle'>"
      << x_name << "</text>";
  if (c.metric_limit) {
    svg << "<line class='limit' x1='" << left << "' y1='" << py(*c.metric_limit) << "' x2='"
        << left + plot_w << "' y2='" << py(*c.metric_limit)
        << "' stroke='#c0392b' stroke-dasharray='5,4'/>";
    svg << "<text x='" << left + plot_w - 2 << "' y='" << py(*c.metric_limit) - 4
        << "' text-anchor='end' fill='#c0392b'>limit " << metric_text(c, c.metric_limit)
        << "</text>";
  }
  if (has_budget) {
    svg << "<line class='budget' x1='" << px(budget_mb) << "' y1='" << top << "' x2='"
        << px(budget_mb) << "' y2='" << top + plot_h
        << "' stroke='#c0392b' stroke-dasharray='5,4'/>";
    svg << "<text x='" << px(budget_mb) + 3 << "' y='" << top + 10 << "' fill='#c0392b'>budget "
        << fixed(budget_mb, 2) << " MB</text>";
  }
  // The front as an attainment curve: from each member across to the next one's x, then to its y.
  std::vector<const Dot*> front;
  for (const auto& d : dots)
    if (d.front) front.push_back(&d);
  std::sort(front.begin(), front.end(), [](const Dot* a, const Dot* b) { return a->x < b->x; });
  if (!front.empty()) {
    svg << "<polyline class='front' fill='none' stroke='#4a7ebb' stroke-width='1.5' points='";
    for (size_t i = 0; i < front.size(); ++i) {
      if (i) svg << " " << px(front[i]->x) << "," << py(front[i - 1]->y) << " ";
      svg << px(front[i]->x) << "," << py(front[i]->y);
    }
    svg << "'/>";
  }
  const Dot* pick = nullptr;
  for (const auto& d : dots) {
    svg << "<circle cx='" << px(d.x) << "' cy='" << py(d.y) << "' r='4' fill='"
        << (d.front ? "#4a7ebb" : "#aaa") << "'><title>" << html_escape(d.candidate->label) << ": "
        << html_escape(c.metric) << " " << metric_text(c, d.y) << ", "
        << fixed(d.x, plot == Plot::kMemory ? 2 : 3) << (plot == Plot::kMemory ? " MB" : " ms")
        << "</title></circle>";
    if (d.pick) pick = &d;
  }
  if (pick) {
    svg << "<circle class='pick' cx='" << px(pick->x) << "' cy='" << py(pick->y)
        << "' r='8' fill='none' stroke='#c0392b' stroke-width='2'/>";
    const bool right_half = ax.frac(pick->x) > 0.6;
    svg << "<text x='" << px(pick->x) + (right_half ? -11 : 11) << "' y='" << py(pick->y) - 9 << "'"
        << (right_half ? " text-anchor='end'" : "")
        << " fill='#c0392b'>pick: " << html_escape(pick->candidate->label) << "</text>";
  }
  svg << "</svg>";
  out << svg.str();
}

std::string fronts_cell(const BoardSearch& board, int64_t id) {
  std::string out;
  for (const auto& [pair, ids] : board.fronts) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) continue;
    const std::string name = pair.rfind("metric-", 0) == 0 ? pair.substr(7) : pair;
    out += (out.empty() ? "" : ", ") + html_escape(name);
  }
  return out;
}

void front_table(const RunView& view, const BoardSearch& board, std::ostream& h) {
  const SearchView& s = *view.search;
  const SearchConstraints& c = s.constraints;
  std::vector<int64_t> ids;
  for (const auto& [pair, members] : board.fronts)
    ids.insert(ids.end(), members.begin(), members.end());
  if (board.pick) ids.push_back(board.pick->candidate_id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  if (ids.empty()) {
    h << "<p>No front stored for this board.</p>";
    return;
  }
  // By decode time on this board (unmeasured last), then id.
  auto decode = [&](int64_t id) {
    const Measurement* m = view.candidate_measurement(id, board.board);
    return m && m->model.decode_median_ms ? *m->model.decode_median_ms : HUGE_VAL;
  };
  std::stable_sort(ids.begin(), ids.end(),
                   [&](int64_t a, int64_t b) { return decode(a) < decode(b); });
  const std::string metric = html_escape(c.metric);
  h << "<table><tr><th class='l'>label</th><th class='l'>tier</th><th>validation " << metric
    << "</th><th>test " << metric
    << "</th><th>memory MB</th><th>decode ms/token</th><th>p90</th>"
       "<th class='l'>energy/token</th><th class='l'>fronts</th><th class='l'>pick</th></tr>";
  for (const int64_t id : ids) {
    const Candidate* cand = s.candidate(id);
    const Measurement* m = view.candidate_measurement(id, board.board);
    const bool picked = board.pick && board.pick->candidate_id == id;
    std::string energy;
    if (m && m->model.energy_per_token_j)
      energy = fixed(*m->model.energy_per_token_j * 1e3, 3) + " mJ";
    else
      energy = "unavailable: " +
               html_escape(m ? m->energy.unavailable.value_or("not reported") : "not measured");
    h << "<tr" << (picked ? " class='pick' style='font-weight:bold'" : "") << "><td class='l'>"
      << html_escape(cand ? cand->label : "#" + std::to_string(id)) << "</td><td class='l'>"
      << html_escape(cand ? cand->tier : "") << "</td><td>"
      << metric_text(c, cand ? cand->validation : std::nullopt) << "</td><td>"
      << metric_text(c, cand ? cand->test : std::nullopt) << "</td><td>"
      << (cand && cand->memory_bytes ? fixed(static_cast<double>(*cand->memory_bytes) / kMB, 2)
                                     : "")
      << "</td><td>" << fixed(m ? m->model.decode_median_ms : std::nullopt, 3) << "</td><td>"
      << fixed(m ? m->model.decode_p90_ms : std::nullopt, 3) << "</td><td class='l'>" << energy
      << "</td><td class='l'>" << fronts_cell(board, id) << "</td><td class='l'>"
      << (picked ? html_escape(board.pick->rule) +
                       (board.pick->score ? " (score " + fixed(board.pick->score, 4) + ")" : "")
                 : "")
      << "</td></tr>";
  }
  h << "</table>";
}

// "N candidates, S scored on validation: F feasible, P pruned (most common reasons), ...".
void summary(const SearchView& s, std::ostream& h) {
  const SearchConstraints& c = s.constraints;
  h << "<h2>Search</h2><p>" << s.candidates.size() << " candidates, " << s.scored
    << " scored on the validation split: " << s.count("feasible") << " feasible, "
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
  h << "</p>";
}

}  // namespace

void search_html(const RunView& view, std::ostream& out) {
  if (!view.search) return;
  summary(*view.search, out);
  for (const auto& board : view.search->boards) {
    out << "<h2>Pareto — " << html_escape(board.board) << (board.emulated ? " (emulated)" : "")
        << "</h2>";
    if (board.emulated)
      out << "<p class='note'>Emulated timings: this board ran under qemu, so its decode times "
             "check the code path and are not board timings; memory and the metric hold.</p>";
    scatter_svg(view, board, Plot::kLatency, out);
    scatter_svg(view, board, Plot::kMemory, out);
    front_table(view, board, out);
  }
  out << "<p class='note'>Dots: every candidate measured on the board (blue on that plot's front, "
         "grey off it); the line joins the front; the red ring is the board's pick; dashed: the "
         "validation metric limit and the memory budget. Metrics are scored on the host.</p>";
}

}  // namespace hilq::reports
