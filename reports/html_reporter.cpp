// report.html (see html_reporter.h). Tables and SVG are written directly; every text that comes
// from the DB goes through html_escape.
#include "reports/html_reporter.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

#include "reports/board_rows.h"
#include "reports/format.h"
#include "reports/pareto_html.h"
#include "reports/svg_plot.h"

namespace hilq::reports {
namespace {

constexpr double kMiB = 1048576.0;

std::string board_cell(const Measurement& m) {
  return html_escape(m.board) + (m.emulated ? " (emulated)" : "");
}

// Energy is said unavailable once per board, under the table (energy_notes), never per row.
std::string energy_cell(const Measurement& m, const std::string& value) {
  return m.energy.joules ? value : "—";
}

// Under the model table: one line per board of the run whose rows lack energy, with the reason.
void energy_notes(const RunView& view, std::ostream& h) {
  for (const auto& b : view.boards) h << energy_note_html(b.name, board_energy(view, b.name));
}

// The setting of a model-bench row: a search candidate's label, else what the agent ran.
std::string setting_of(const RunView& view, const Measurement& m) {
  if (view.search && m.candidate_id)
    if (const Candidate* c = view.search->candidate(*m.candidate_id)) return c->label;
  return m.model.setting;
}

// A long table of a search run folds away: the board sections above hold the same figures.
void fold_open(const RunView& view, std::ostream& h, size_t rows) {
  if (view.search) h << "<details><summary>Show all " << rows << " rows</summary>";
  h << "<div class='scroll'>";
}
void fold_close(const RunView& view, std::ostream& h) {
  h << "</div>";
  if (view.search) h << "</details>";
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
  svg_open(svg, label_w + plot_w + 40, height, "class='bars'");
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
  size_t n = 0;
  for (const auto& m : view.measurements) n += m.job_kind == JobKind::kModelBench && m.ok;
  for (const auto& m : view.measurements) {
    if (m.job_kind != JobKind::kModelBench || !m.ok) continue;
    if (!any) {
      h << "<section class='card'><h2>Model</h2>";
      fold_open(view, h, n);
      h << "<table><tr><th class='l'>board</th><th class='l'>setting</th>"
           "<th>prefill ms</th><th>decode ms/token</th><th>p90</th><th>tokens/s</th>"
           "<th>decode × FP16</th><th>weights MB</th><th>KV cache MB</th><th>peak RSS MiB</th>"
           "<th>energy mJ/token</th><th class='l'>kernels</th></tr>";
      any = true;
    }
    const ModelBench& b = m.model;
    auto mb = [](const std::optional<int64_t>& bytes) {
      return bytes ? fixed(static_cast<double>(*bytes) / 1e6, 2) : std::string();
    };
    h << "<tr><td class='l'>" << board_cell(m) << "</td><td class='l'>"
      << html_escape(setting_of(view, m)) << "</td><td>" << fixed(b.prefill_ms, 2) << "</td><td>"
      << fixed(b.decode_median_ms, 3) << "</td><td>" << fixed(b.decode_p90_ms, 3) << "</td><td>"
      << fixed(b.tokens_per_s, 0) << "</td><td>" << fixed(decode_speedup_over_fp16(view, m), 2)
      << "</td><td>" << mb(b.weights_bytes) << "</td><td>" << mb(b.kv_cache_bytes) << "</td><td>"
      << (m.peak_rss_bytes ? fixed(static_cast<double>(*m.peak_rss_bytes) / kMiB, 1) : "")
      << "</td><td>" << (b.energy_per_token_j ? fixed(*b.energy_per_token_j * 1e3, 3) : "—")
      << "</td><td class='l'><code class='k' title='" << html_escape(m.kernel.value_or("")) << "'>"
      << html_escape(kernel_summary(m.kernel.value_or(""))) << "</code></td></tr>";
  }
  if (!any) return;
  h << "</table>";
  fold_close(view, h);
  // A search run says it once, in each board's section.
  if (!view.search) energy_notes(view, h);
  h << "<p class='note'>Prefill: the whole prompt; decode: median and p90 over every "
       "decoded token of every run; × FP16: the FP16-storage decode time of the same board "
       "over this one's.</p></section>";
}

void agents_table(const RunView& view, std::ostream& h) {
  if (view.agents.empty()) return;
  h << "<section class='card'><h2>Agents</h2><div class='scroll'><table><tr><th "
       "class='l'>agent</th><th class='l'>board</th>"
       "<th class='l'>key</th><th class='l'>status</th></tr>";
  for (const auto& a : view.agents)
    h << "<tr" << (a.status == "quarantined" ? " class='failed'" : "") << "><td class='l'>"
      << html_escape(a.id) << "</td><td class='l'>" << html_escape(a.board) << "</td><td class='l'>"
      << html_escape(a.user_id.value_or("")) << "</td><td class='l'>" << html_escape(a.status)
      << (a.reason ? ": " + html_escape(*a.reason) : "") << "</td></tr>";
  h << "</table></div></section>";
}

void measurements_table(const RunView& view, std::ostream& h) {
  h << "<section class='card'><h2>Measurements</h2>";
  fold_open(view, h, view.measurements.size());
  h << "<table><tr><th class='l'>board</th><th class='l'>job</th>"
       "<th class='l'>kernel</th><th>median</th><th>p10</th><th>p90</th><th>MAD</th>"
       "<th>repeats</th><th>GOP/s</th><th>peak RSS (MiB)</th><th class='l'>energy</th>"
       "<th class='l'>status</th></tr>";
  for (const auto& m : view.measurements) {
    h << "<tr" << (m.ok ? "" : " class='failed'") << "><td class='l'>" << board_cell(m)
      << "</td><td class='l'>" << html_escape(m.label) << "</td><td class='l'>"
      << "<code class='k'>" << html_escape(m.kernel.value_or("")) << "</code></td>";
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
  fold_close(view, h);
  h << "</section>";
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

// The page's only style sheet: system fonts, cards, plots in a grid of columns at least 300 px
// wide (one column on a phone), tables scrolling inside their card rather than the page.
constexpr const char* kStyle =
    ":root{--fg:#111827;--muted:#6b7280;--line:#e5e7eb;--front:#2563eb;--pick:#dc2626}"
    "*{box-sizing:border-box}"
    "body{margin:0;background:#f3f4f6;color:var(--fg);font:15px/1.5 system-ui,-apple-system,"
    "'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}"
    "main{max-width:1200px;margin:0 auto;padding:16px}"
    "header.top{background:#111827;color:#f9fafb;padding:18px 16px}"
    "header.top .in{max-width:1200px;margin:0 auto}header.top h1{margin:0 0 4px;font-size:22px}"
    "header.top p{margin:2px 0;color:#d1d5db;font-size:13px;overflow-wrap:anywhere}"
    "header.top code{color:#f9fafb}"
    ".status{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;"
    "font-weight:600;background:#374151;margin-left:6px;vertical-align:middle}"
    ".status.completed{background:#15803d}.status.failed{background:#b91c1c}"
    ".status.interrupted,.status.running{background:#b45309}"
    ".card{background:#fff;border:1px solid var(--line);border-radius:12px;padding:16px;"
    "margin:16px 0;box-shadow:0 1px 2px rgba(0,0,0,.04)}"
    ".card.emulated{background:repeating-linear-gradient(135deg,#fff,#fff 14px,#fffbf5 14px,"
    "#fffbf5 28px);border-color:#fdba74}"
    "h2{font-size:18px;margin:0 0 8px}h3{font-size:15px;margin:18px 0 6px}"
    ".plots{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:12px}"
    "svg{max-width:100%;height:auto}svg.plot{width:100%;background:#fff}"
    "svg{fill:#374151}svg text{font-family:inherit;font-size:11px}svg.plot text{font-size:12.5px}"
    "svg.plot text.ptitle{font-size:14px}svg.bits{max-width:none}"
    "svg text.halo{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}"
    ".tier{color:var(--muted);font-size:11px;font-style:normal;font-weight:400}"
    "svg a circle:hover,svg a rect:hover,svg a path:hover{stroke:#111827;stroke-width:2}"
    ".scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}"
    "table{border-collapse:collapse;font-size:13px;width:100%}"
    "td,th{border-bottom:1px solid var(--line);padding:5px 7px;text-align:right;"
    "white-space:nowrap;vertical-align:top}th{background:#f9fafb;font-weight:600;white-space:"
    "normal;min-width:4.5em}"
    "td.l,th.l{text-align:left}tr.failed{background:#fef2f2}tr.pick{background:#fef2f2;"
    "font-weight:600}tr.baseline{color:#374151;background:#f9fafb;font-style:italic}"
    "code{font-size:12px}code.k{font-size:11px}td.cfg{white-space:normal;min-width:15em}"
    "td.kern{white-space:normal;min-width:10em}"
    ".note{color:var(--muted);font-size:13px}"
    ".energy-note{font-size:13px;background:#fefce8;border:1px solid #fde68a;border-radius:8px;"
    "padding:6px 10px;margin:6px 0;overflow-wrap:anywhere}"
    ".emulated-note{font-size:13px;color:#9a3412;margin:4px 0}"
    ".legend{display:flex;flex-wrap:wrap;gap:6px 14px;font-size:12px;color:#374151;margin:6px 0}"
    ".legend i{display:inline-block;width:11px;height:11px;border-radius:50%;margin-right:5px;"
    "vertical-align:-1px}.legend.bits i{border-radius:2px;width:14px}"
    ".legend i.ring{border:2px solid #9ca3af;background:#fff}"
    ".legend i.pickring{border:2px solid var(--pick);background:none}"
    ".legend .dash{border-bottom:2px dashed var(--pick)}"
    ".badge{display:inline-block;font-size:11px;font-weight:600;padding:0 6px;border-radius:8px;"
    "font-style:normal}.badge.pick{background:var(--pick);color:#fff}"
    ".badge.emu{background:#ffedd5;color:#9a3412}"
    ".cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:12px;"
    "margin:16px 0}"
    ".pickcard{display:block;background:#fff;border:1px solid var(--line);border-left:4px solid "
    "var(--pick);border-radius:10px;padding:10px 14px;color:inherit;text-decoration:none}"
    ".pickcard.emulated{border-left-color:#fb923c}"
    ".pickcard .board-name{font-size:12px;color:var(--muted);text-transform:uppercase;"
    "letter-spacing:.04em}.pickcard .pick-label{font-weight:600;overflow-wrap:anywhere}"
    ".pickcard .figs{font-size:13px}"
    "figure.strip{margin:8px 0 12px}figure.strip figcaption{font-size:13px;margin-bottom:2px;"
    "overflow-wrap:anywhere}"
    "details summary{cursor:pointer;color:var(--front);font-size:14px;margin:6px 0}"
    "a{color:var(--front)}"
    "@media (max-width:600px){main{padding:8px}.card{padding:12px;border-radius:10px}"
    "body{font-size:14px}header.top h1{font-size:19px}}";

void HtmlReporter::report(const RunView& view, std::ostream& out) const {
  const RunInfo& run = view.run;
  // Self-contained by construction: the policy forbids every load (scripts, fonts, images,
  // network); only the inline style sheet and inline SVG are allowed.
  out << "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
         "<meta name='viewport' content='width=device-width,initial-scale=1'>"
         "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
         "style-src 'unsafe-inline'; img-src data:\">"
         "<title>hilq run "
      << run.id << (view.search ? " — quantization search" : "") << "</title><style>" << kStyle
      << "</style></head><body>";
  out << "<header class='top'><div class='in'><h1>hilq run " << run.id << "</h1>";
  out << "<p>Status: <b class='status " << html_escape(run.status) << "'>"
      << html_escape(run.status) << "</b>" << (run.message ? " — " + html_escape(*run.message) : "")
      << "<br>Started " << html_escape(run.started_at)
      << (run.finished_at ? ", finished " + html_escape(*run.finished_at) : "")
      << "<br>Command: <code>" << html_escape(run.command_line) << "</code>"
      << (run.git_sha ? "<br>Build: <code>" + html_escape(*run.git_sha) + "</code>" : "") << "</p>";
  out << "</div></header><main>";
  search_html(view, out);
  model_table(view, out);
  out << "<section class='card'><h2>Latency</h2>";
  if (view.search) out << "<details><summary>Show the latency of every measurement</summary>";
  latency_svg(view, out);
  if (view.search) out << "</details>";
  out << "<p class='note'>Emulated boards (qemu) are not drawn: their timings are not board "
         "timings. They appear in the table below, marked (emulated), as a check of the code path."
         "</p></section>";
  agents_table(view, out);
  measurements_table(view, out);
  out << "</main></body></html>\n";
}

}  // namespace hilq::reports
