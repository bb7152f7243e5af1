// Search progress (see progress.h): traces to points, points to two SVG plots and a table.
#include "reports/progress.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <string>

#include "reports/format.h"
#include "reports/html_reporter.h"
#include "reports/svg_plot.h"

namespace hilq::reports {

double hypervolume_2d(std::vector<std::array<double, 2>> points,
                      const std::array<double, 2>& reference) {
  std::erase_if(points, [&](const auto& p) {
    return !(p[0] < reference[0] && p[1] < reference[1]) || !std::isfinite(p[0]) ||
           !std::isfinite(p[1]);
  });
  std::sort(points.begin(), points.end());
  // In f0 order each point that lowers the best f1 so far adds the slab between its f1 and that
  // best, from its f0 to the reference.
  double area = 0, best_f1 = reference[1];
  for (const auto& p : points)
    if (p[1] < best_f1) {
      area += (reference[0] - p[0]) * (best_f1 - p[1]);
      best_f1 = p[1];
    }
  return area;
}

std::optional<std::array<double, 2>> progress_reference(const SearchConstraints& c) {
  if (!c.metric_limit) return std::nullopt;
  const std::optional<int64_t> bound = c.mem_budget_bytes ? c.mem_budget_bytes : c.float_bytes;
  if (!bound) return std::nullopt;
  const double metric = c.higher_is_better() ? 1.0 - *c.metric_limit : *c.metric_limit;
  const double margin = 1 + 1e-9;
  return std::array<double, 2>{metric + std::abs(metric) * 1e-9,
                               static_cast<double>(*bound) / 1e6 * margin};
}

std::vector<ProgressPoint> progress_of(const SearchTrace& trace, const SearchConstraints& c) {
  std::vector<ProgressPoint> out;
  const auto reference = progress_reference(c);
  std::vector<std::array<double, 2>> front;
  std::optional<double> best;
  double hv = 0;
  for (const auto& s : trace.scorings) {
    if (s.feasible) {
      if (!best || (c.higher_is_better() ? s.validation > *best : s.validation < *best))
        best = s.validation;
      if (reference && s.memory_bytes) {
        front.push_back({c.higher_is_better() ? 1.0 - s.validation : s.validation,
                         static_cast<double>(*s.memory_bytes) / 1e6});
        hv = hypervolume_2d(front, *reference);
      }
    }
    out.push_back({static_cast<int>(out.size()) + 1, best, hv});
  }
  return out;
}

namespace {

const char* strategy_colour(const std::string& strategy) {
  if (strategy == "tiered") return "#2563eb";
  if (strategy == "nsga2") return "#ea580c";
  if (strategy == "random") return "#16a34a";
  return "#7c3aed";
}

std::string run_name(const SearchTrace& t) {
  std::string name = "run " + std::to_string(t.run_id) + " (" + t.strategy;
  if (t.seed && t.strategy != "tiered") name += " seed " + std::to_string(*t.seed);
  return name + ")";
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct Series {
  const SearchTrace* trace;
  std::vector<ProgressPoint> points;
  bool mine;
};

enum class What { kBest, kHypervolume };

void progress_svg(const std::vector<Series>& series, const SearchConstraints& c, What what,
                  std::ostream& out) {
  auto value = [&](const ProgressPoint& p) -> std::optional<double> {
    if (what == What::kBest) return p.best;
    return p.hypervolume;
  };
  int max_e = 1;
  double lo = HUGE_VAL, hi = -HUGE_VAL;
  for (const auto& s : series)
    for (const auto& p : s.points) {
      max_e = std::max(max_e, p.evaluations);
      if (const auto v = value(p)) {
        lo = std::min(lo, *v);
        hi = std::max(hi, *v);
      }
    }
  const std::string metric = html_escape(c.metric);
  const std::string title = what == What::kBest ? "Best feasible validation " + metric
                                                : "Front hypervolume (" + metric + ", memory)";
  const std::string y_title =
      what == What::kBest ? "validation " + metric
                          : (c.higher_is_better() ? "(1 − accuracy) × MB" : metric + " × MB");
  std::ostringstream svg;
  svg_open(svg, 480, 300,
           std::string("class='plot progress' data-objective='") +
               (what == What::kBest ? "best-metric" : "hypervolume") + "' role='img' aria-label='" +
               title + " over evaluations'");
  if (!(lo <= hi)) {
    svg << "<text x='20' y='40'>" << title << ": no feasible candidate yet</text></svg>";
    out << svg.str();
    return;
  }
  if (what == What::kBest && c.metric_limit) {
    lo = std::min(lo, *c.metric_limit);
    hi = std::max(hi, *c.metric_limit);
  }
  Frame f;
  f.width = 480;
  f.height = 300;
  f.x = Axis(0, max_e, true);
  f.y = Axis(what == What::kHypervolume ? 0 : lo, hi, what == What::kHypervolume);
  frame_svg(svg, f, title, "evaluations (validation scorings)", y_title);
  if (what == What::kBest && c.metric_limit)
    svg << "<line class='limit' x1='" << f.left << "' x2='" << coord(f.x_max_px()) << "' y1='"
        << coord(f.py(*c.metric_limit)) << "' y2='" << coord(f.py(*c.metric_limit)) << "' stroke='"
        << palette::kPick << "' stroke-dasharray='5,4'/><text x='" << coord(f.x_max_px() - 4)
        << "' y='" << coord(f.py(*c.metric_limit) - 4) << "' text-anchor='end' class='halo' fill='"
        << palette::kPick << "'>limit " << fixed(*c.metric_limit, 3) << "</text>";
  // Others first, this run on top.
  for (int pass = 0; pass < 2; ++pass)
    for (const auto& s : series) {
      if (s.mine != (pass == 1)) continue;
      std::string d;
      std::optional<double> last;
      for (const auto& p : s.points) {
        const auto v = value(p);
        if (!v) continue;
        const std::string x = coord(f.px(p.evaluations)), y = coord(f.py(*v));
        d += last ? "H" : "M";
        d += x;
        d += last ? "V" : " ";
        d += y;
        last = v;
      }
      if (d.empty()) continue;
      d += "H" + coord(f.px(s.points.back().evaluations));
      const ProgressPoint& end = s.points.back();
      svg << "<path class='trace' d='" << d << "' fill='none' stroke='"
          << strategy_colour(s.trace->strategy) << "' stroke-width='" << (s.mine ? 2.5 : 1.2)
          << "' stroke-opacity='" << (s.mine ? 1 : 0.7) << "'><title>"
          << html_escape(run_name(*s.trace)) << ": " << end.evaluations << " evaluations, best "
          << fixed(end.best, 3) << ", hypervolume " << fixed(end.hypervolume, 4)
          << "</title></path>";
    }
  svg << "</svg>";
  out << svg.str();
}

}  // namespace

void progress_html(const RunView& view, std::ostream& out) {
  if (!view.search || view.search->traces.empty()) return;
  const SearchView& s = *view.search;
  const SearchConstraints& c = s.constraints;
  std::vector<Series> series;
  for (const auto& t : s.traces) series.push_back({&t, progress_of(t, c), t.run_id == view.run.id});
  std::vector<std::string> strategies;
  for (const auto& t : s.traces)
    if (std::find(strategies.begin(), strategies.end(), t.strategy) == strategies.end())
      strategies.push_back(t.strategy);
  out << "<section class='card'><h2>Search progress</h2><p class='note'>After each validation "
         "scoring (float references and pruned moves are not scorings";
  if (s.traces.size() > 1)
    out << "; " << s.traces.size() - 1 << " other run" << (s.traces.size() > 2 ? "s" : "")
        << " of the same model and limits in this file drawn thin";
  out << "). ";
  if (const auto ref = progress_reference(c))
    out << "Hypervolume of the feasible (validation " << html_escape(c.metric)
        << ", memory MB) front up to the study's reference point (" << fixed((*ref)[0], 3)
        << (c.higher_is_better() ? " error" : "") << ", " << fixed((*ref)[1], 2)
        << " MB), fixed by the limits.";
  out << "</p><div class='legend'>";
  for (const auto& st : strategies)
    out << "<span><i style='background:" << strategy_colour(st) << "'></i>" << html_escape(st)
        << "</span>";
  out << "</div><div class='plots'>";
  progress_svg(series, c, What::kBest, out);
  progress_svg(series, c, What::kHypervolume, out);
  out << "</div>";
  // Strategies side by side: median of the runs' final figures.
  out << "<div class='scroll'><table><tr><th class='l'>strategy</th><th>runs</th>"
         "<th>evaluations</th><th>feasible</th><th>best "
      << html_escape(c.metric) << "</th><th>hypervolume</th><th class='l'>runs (this one bold)"
      << "</th></tr>";
  for (const auto& st : strategies) {
    std::vector<double> evals, feasible, best, hv;
    std::string runs;
    for (const auto& se : series) {
      if (se.trace->strategy != st) continue;
      evals.push_back(static_cast<double>(se.points.size()));
      feasible.push_back(static_cast<double>(
          std::count_if(se.trace->scorings.begin(), se.trace->scorings.end(),
                        [](const SearchTrace::Scoring& x) { return x.feasible; })));
      if (!se.points.empty() && se.points.back().best) best.push_back(*se.points.back().best);
      hv.push_back(se.points.empty() ? 0.0 : se.points.back().hypervolume);
      const std::string id = std::to_string(se.trace->run_id);
      runs += (runs.empty() ? "" : ", ") + (se.mine ? "<b>" + id + "</b>" : id);
    }
    const bool many = evals.size() > 1;
    auto range = [&](const std::vector<double>& v, int digits) {
      std::string text = fixed(median(v), digits);
      if (many)
        text += " [" + fixed(*std::min_element(v.begin(), v.end()), digits) + "–" +
                fixed(*std::max_element(v.begin(), v.end()), digits) + "]";
      return text;
    };
    out << "<tr><td class='l'><i class='sw' style='background:" << strategy_colour(st) << "'></i>"
        << html_escape(st) << "</td><td>" << evals.size() << "</td><td>" << range(evals, 0)
        << "</td><td>" << range(feasible, 0) << "</td><td>" << (best.empty() ? "—" : range(best, 3))
        << "</td><td>" << range(hv, 4) << "</td><td class='l'>" << runs << "</td></tr>";
  }
  out << "</table></div>";
  if (strategies.size() > 1)
    out << "<p class='note'>Median over each strategy's runs, [min–max] where it has several; "
           "every run scores on the same validation windows, so the figures compare.</p>";
  out << "</section>";
}

}  // namespace hilq::reports
