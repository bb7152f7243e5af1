// report.html (see html_reporter.h). Tables and SVG are written directly; every text that comes
// from the DB goes through html_escape.
#include "reports/html_reporter.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

#include "reports/format.h"
#include "reports/pareto_html.h"

namespace hilq::reports {
namespace {

constexpr double kMiB = 1048576.0;

std::string board_cell(const Measurement& m) {
  return html_escape(m.board) + (m.emulated ? " (emulated)" : "");
}

std::string energy_cell(const Measurement& m, const std::string& value) {
  return m.energy.joules ? value : "unavailable: " + html_escape(m.energy.unavailable.value_or(""));
}

// Horizontal bars of median latency with p10–p90 whiskers, log-scaled so shapes that differ by
// orders of magnitude stay readable.
void latency_svg(const RunView& view, std::ostream& out) {
  std::vector<const Measurement*> ok;
  for (const auto& m : view.measurements)
    // Emulated boards (qemu) are never drawn as board timings: they are listed in the table only.
    if (m.ok && !m.emulated && m.latency.median && *m.latency.median > 0) ok.push_back(&m);
  if (ok.empty()) {
    out << "<p>No successful board latency measurements to plot.</p>";
    return;
  }
  double lo = 1e300, hi = 0;
  for (const auto* m : ok) {
    lo = std::min(lo, m->latency.p10.value_or(*m->latency.median));
    hi = std::max(hi, m->latency.p90.value_or(*m->latency.median));
  }
  const double log_lo = std::floor(std::log10(std::max(lo, 1.0)));
  const double log_hi = std::max(std::ceil(std::log10(std::max(hi, 1.0))), log_lo + 1);
  const int label_w = 260, plot_w = 520, row_h = 26, top = 30;
  const int height = top + row_h * static_cast<int>(ok.size()) + 30;
  auto x_of = [&](double ns) {
    const double f = (std::log10(std::max(ns, 1.0)) - log_lo) / (log_hi - log_lo);
    return label_w + f * plot_w;
  };
  std::ostringstream svg;  // default precision (6 digits) for coordinates, whatever out's is
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << label_w + plot_w + 40 << "' height='"
      << height << "' font-family='sans-serif' font-size='12'>";
  svg << "<text x='" << label_w << "' y='16'>median latency (bar), p10–p90 (whisker), log scale"
      << "</text>";
  // log_lo and log_hi are whole exponents: one grid line per decade.
  for (int e = static_cast<int>(log_lo); e <= static_cast<int>(log_hi); ++e) {
    const double x = x_of(std::pow(10.0, e));
    svg << "<line x1='" << x << "' y1='" << top - 6 << "' x2='" << x << "' y2='" << height - 24
        << "' stroke='#ddd'/>";
    svg << "<text x='" << x << "' y='" << height - 8 << "' text-anchor='middle'>"
        << html_escape(duration_text(std::pow(10.0, e))) << "</text>";
  }
  for (size_t i = 0; i < ok.size(); ++i) {
    const Measurement& m = *ok[i];
    const double y = top + row_h * static_cast<double>(i);
    svg << "<text x='" << label_w - 8 << "' y='" << y + 15 << "' text-anchor='end'>"
        << html_escape(m.board + ": " + m.label) << "</text>";
    svg << "<rect x='" << label_w << "' y='" << y + 4 << "' width='"
        << x_of(*m.latency.median) - label_w << "' height='" << row_h - 8
        << "' fill='#4a7ebb'><title>" << html_escape(duration_text(*m.latency.median))
        << "</title></rect>";
    if (m.latency.p10 && m.latency.p90)
      svg << "<line x1='" << x_of(*m.latency.p10) << "' x2='" << x_of(*m.latency.p90) << "' y1='"
          << y + row_h / 2.0 << "' y2='" << y + row_h / 2.0 << "' stroke='#222' stroke-width='2'/>";
  }
  svg << "</svg>";
  out << svg.str();
}

// The model benchmarks of a run: one row per board and setting with prefill, decode and memory,
// and each setting's decode speed-up over the FP16-storage baseline measured on the same board.
void model_table(const RunView& view, std::ostream& h) {
  bool any = false;
  for (const auto& m : view.measurements) {
    if (m.job_kind != JobKind::kModelBench || !m.ok) continue;
    if (!any) {
      h << "<h2>Model</h2><table><tr><th class='l'>board</th><th class='l'>setting</th>"
           "<th>prefill ms</th><th>decode ms/token</th><th>p90</th><th>tokens/s</th>"
           "<th>decode × FP16</th><th>weights MB</th><th>KV cache MB</th><th>peak RSS MiB</th>"
           "<th class='l'>energy/token</th><th class='l'>kernels</th></tr>";
      any = true;
    }
    const ModelBench& b = m.model;
    auto mb = [](const std::optional<int64_t>& bytes) {
      return bytes ? fixed(static_cast<double>(*bytes) / 1e6, 2) : std::string();
    };
    h << "<tr><td class='l'>" << board_cell(m) << "</td><td class='l'>" << html_escape(b.setting)
      << "</td><td>" << fixed(b.prefill_ms, 2) << "</td><td>" << fixed(b.decode_median_ms, 3)
      << "</td><td>" << fixed(b.decode_p90_ms, 3) << "</td><td>" << fixed(b.tokens_per_s, 0)
      << "</td><td>" << fixed(decode_speedup_over_fp16(view, m), 2) << "</td><td>"
      << mb(b.weights_bytes) << "</td><td>" << mb(b.kv_cache_bytes) << "</td><td>"
      << (m.peak_rss_bytes ? fixed(static_cast<double>(*m.peak_rss_bytes) / kMiB, 1) : "")
      << "</td><td class='l'>"
      << (b.energy_per_token_j ? fixed(*b.energy_per_token_j * 1e3, 3) + " mJ"
                               : "unavailable: " + html_escape(m.energy.unavailable.value_or("")))
      << "</td><td class='l'>" << html_escape(m.kernel.value_or("")) << "</td></tr>";
  }
  if (any)
    h << "</table><p class='note'>Prefill: the whole prompt; decode: median and p90 over every "
         "decoded token of every run; × FP16: the FP16-storage decode time of the same board "
         "over this one's.</p>";
}

void agents_table(const RunView& view, std::ostream& h) {
  if (view.agents.empty()) return;
  h << "<h2>Agents</h2><table><tr><th class='l'>agent</th><th class='l'>board</th>"
       "<th class='l'>key</th><th class='l'>status</th></tr>";
  for (const auto& a : view.agents)
    h << "<tr" << (a.status == "quarantined" ? " class='failed'" : "") << "><td class='l'>"
      << html_escape(a.id) << "</td><td class='l'>" << html_escape(a.board) << "</td><td class='l'>"
      << html_escape(a.user_id.value_or("")) << "</td><td class='l'>" << html_escape(a.status)
      << (a.reason ? ": " + html_escape(*a.reason) : "") << "</td></tr>";
  h << "</table>";
}

void measurements_table(const RunView& view, std::ostream& h) {
  h << "<h2>Measurements</h2><table><tr><th class='l'>board</th><th class='l'>job</th>"
       "<th class='l'>kernel</th><th>median</th><th>p10</th><th>p90</th><th>MAD</th>"
       "<th>repeats</th><th>GOP/s</th><th>peak RSS (MiB)</th><th class='l'>energy</th>"
       "<th class='l'>status</th></tr>";
  for (const auto& m : view.measurements) {
    h << "<tr" << (m.ok ? "" : " class='failed'") << "><td class='l'>" << board_cell(m)
      << "</td><td class='l'>" << html_escape(m.label) << "</td><td class='l'>"
      << html_escape(m.kernel.value_or("")) << "</td>";
    for (const auto& v : {m.latency.median, m.latency.p10, m.latency.p90, m.latency.mad})
      h << "<td>" << (v ? html_escape(duration_text(*v)) : "") << "</td>";
    h << "<td>" << number_text(m.latency.repeats) << "</td><td>" << fixed(m.gops, 2) << "</td><td>"
      << (m.peak_rss_bytes ? fixed(static_cast<double>(*m.peak_rss_bytes) / kMiB, 1) : "")
      << "</td><td class='l'>" << energy_cell(m, number_text(m.energy.joules) + " J")
      << "</td><td class='l'>" << html_escape(m.status)
      << (m.error ? ": " + html_escape(m.error_class.value_or("")) + " " + html_escape(*m.error)
                  : "")
      << "</td></tr>";
  }
  h << "</table>";
}

}  // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

void HtmlReporter::report(const RunView& view, std::ostream& out) const {
  const RunInfo& run = view.run;
  out << "<!DOCTYPE html><html><head><meta charset='utf-8'><title>hilq run " << run.id
      << "</title><style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
         "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px "
         "6px;"
         "text-align:right}td.l,th.l{text-align:left}.failed{background:#fdd}"
         ".note{color:#666}</style></head><body>";
  out << "<h1>hilq run " << run.id << "</h1>";
  out << "<p>Status: <b>" << html_escape(run.status) << "</b>"
      << (run.message ? " — " + html_escape(*run.message) : "") << "<br>Started "
      << html_escape(run.started_at)
      << (run.finished_at ? ", finished " + html_escape(*run.finished_at) : "")
      << "<br>Command: <code>" << html_escape(run.command_line) << "</code>"
      << (run.git_sha ? "<br>Build: <code>" + html_escape(*run.git_sha) + "</code>" : "") << "</p>";
  search_html(view, out);
  model_table(view, out);
  out << "<h2>Latency</h2>";
  latency_svg(view, out);
  out << "<p class='note'>Emulated boards (qemu) are not drawn: their timings are not board "
         "timings. They appear in the table below, marked (emulated), as a check of the code path."
         "</p>";
  agents_table(view, out);
  measurements_table(view, out);
  out << "</body></html>\n";
}

}  // namespace hilq::reports
