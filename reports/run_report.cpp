// HTML/CSV/JSON report of a run (see run_report.h).
#include "reports/run_report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "db/run_store.h"

namespace hilq::reports {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string opt(const std::optional<std::string>& v) { return v.value_or(""); }
template <typename T>
std::string opt_num(const std::optional<T>& v) {
  if (!v) return "";
  std::ostringstream out;
  out.precision(10);
  out << *v;
  return out.str();
}

std::string format_ns(double ns) {
  char buf[64];
  if (ns >= 1e9)
    std::snprintf(buf, sizeof(buf), "%.3f s", ns / 1e9);
  else if (ns >= 1e6)
    std::snprintf(buf, sizeof(buf), "%.3f ms", ns / 1e6);
  else if (ns >= 1e3)
    std::snprintf(buf, sizeof(buf), "%.2f µs", ns / 1e3);
  else
    std::snprintf(buf, sizeof(buf), "%.0f ns", ns);
  return buf;
}

void write_file(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  out.close();
  if (!out) throw std::runtime_error("cannot write report file " + path.string());
}

json measurement_json(const db::MeasurementRow& m) {
  auto parse_or_null = [](const std::optional<std::string>& text) {
    if (!text) return json(nullptr);
    return json::parse(*text, nullptr, false);
  };
  json j = {{"job_id", m.job_id},
            {"board", m.board},
            {"agent", opt(m.agent)},
            {"kind", m.kind},
            {"kernel", opt(m.kernel)},
            {"status", m.status},
            {"config", json::parse(m.config, nullptr, false)},
            {"metrics", json::parse(m.metrics, nullptr, false)},
            {"samples_ns", parse_or_null(m.samples_ns)},
            {"emulated", m.emulated}};
  auto put = [&](const char* key, const auto& v) { j[key] = v ? json(*v) : json(nullptr); };
  put("error_class", m.error_class);
  put("error", m.error);
  put("latency_median_ns", m.latency_median_ns);
  put("latency_p10_ns", m.latency_p10_ns);
  put("latency_p90_ns", m.latency_p90_ns);
  put("latency_mad_ns", m.latency_mad_ns);
  put("latency_mean_ns", m.latency_mean_ns);
  put("repeats", m.repeats);
  put("peak_rss_bytes", m.peak_rss_bytes);
  put("model_bytes", m.model_bytes);
  put("energy_j", m.energy_j);
  put("power_source", m.power_source);
  put("power_unavailable", m.power_unavailable);
  return j;
}

// A model-bench row's setting: the label the agent's runtime gave the loaded model, else the
// job config's setting or float baseline.
std::string model_setting(const db::MeasurementRow& m) {
  const json metrics = json::parse(m.metrics, nullptr, false);
  if (metrics.is_object() && metrics.contains("model_label") && metrics["model_label"].is_string())
    return metrics["model_label"].get<std::string>();
  const json c = json::parse(m.config, nullptr, false);
  if (!c.is_object()) return "?";
  if (c.contains("setting") && c["setting"].is_string()) return c["setting"].get<std::string>();
  if (c.contains("weights") && c["weights"].is_string())
    return c["weights"].get<std::string>() == "fp16" ? "FP16" : "FP32";
  return "as stored";
}

std::string job_label(const db::MeasurementRow& m) {
  if (m.kind == "model-bench") return "decode/token " + model_setting(m);
  const json c = json::parse(m.config, nullptr, false);
  std::string label = m.kind;
  if (c.is_object()) {
    if (c.contains("op") && c["op"].is_string()) label = c["op"].get<std::string>();
    if (c.contains("w_bits") && c.contains("a_bits"))
      label += " w" + c["w_bits"].dump() + "a" + c["a_bits"].dump();
    if (c.contains("m") && c.contains("k")) label += " " + c["m"].dump() + "×" + c["k"].dump();
  }
  return label;
}

// Horizontal bars of median latency with p10–p90 whiskers, log-scaled so shapes that differ by
// orders of magnitude stay readable.
std::string latency_svg(const std::vector<db::MeasurementRow>& rows) {
  std::vector<const db::MeasurementRow*> ok;
  for (const auto& m : rows)
    // Emulated boards (qemu) are never drawn as board timings: they are listed in the table only.
    if (m.status == "ok" && !m.emulated && m.latency_median_ns && *m.latency_median_ns > 0)
      ok.push_back(&m);
  if (ok.empty()) return "<p>No successful board latency measurements to plot.</p>";
  double lo = 1e300, hi = 0;
  for (const auto* m : ok) {
    lo = std::min(lo, m->latency_p10_ns.value_or(*m->latency_median_ns));
    hi = std::max(hi, m->latency_p90_ns.value_or(*m->latency_median_ns));
  }
  const double log_lo = std::floor(std::log10(std::max(lo, 1.0)));
  const double log_hi = std::max(std::ceil(std::log10(std::max(hi, 1.0))), log_lo + 1);
  const int label_w = 260, plot_w = 520, row_h = 26, top = 30;
  const int height = top + row_h * static_cast<int>(ok.size()) + 30;
  auto x_of = [&](double ns) {
    const double f = (std::log10(std::max(ns, 1.0)) - log_lo) / (log_hi - log_lo);
    return label_w + f * plot_w;
  };
  std::ostringstream svg;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << label_w + plot_w + 40 << "' height='"
      << height << "' font-family='sans-serif' font-size='12'>";
  svg << "<text x='" << label_w << "' y='16'>median latency (bar), p10–p90 (whisker), log scale"
      << "</text>";
  for (double e = log_lo; e <= log_hi; e += 1) {
    const double x = x_of(std::pow(10.0, e));
    svg << "<line x1='" << x << "' y1='" << top - 6 << "' x2='" << x << "' y2='" << height - 24
        << "' stroke='#ddd'/>";
    svg << "<text x='" << x << "' y='" << height - 8 << "' text-anchor='middle'>"
        << html_escape(format_ns(std::pow(10.0, e))) << "</text>";
  }
  for (size_t i = 0; i < ok.size(); ++i) {
    const auto& m = *ok[i];
    const double y = top + row_h * static_cast<double>(i);
    const std::string color = "#4a7ebb";
    svg << "<text x='" << label_w - 8 << "' y='" << y + 15 << "' text-anchor='end'>"
        << html_escape(m.board + ": " + job_label(m)) << "</text>";
    svg << "<rect x='" << label_w << "' y='" << y + 4 << "' width='"
        << x_of(*m.latency_median_ns) - label_w << "' height='" << row_h - 8 << "' fill='" << color
        << "'><title>" << html_escape(format_ns(*m.latency_median_ns)) << "</title></rect>";
    if (m.latency_p10_ns && m.latency_p90_ns)
      svg << "<line x1='" << x_of(*m.latency_p10_ns) << "' x2='" << x_of(*m.latency_p90_ns)
          << "' y1='" << y + row_h / 2.0 << "' y2='" << y + row_h / 2.0
          << "' stroke='#222' stroke-width='2'/>";
  }
  svg << "</svg>";
  return svg.str();
}

double number_at(const json& j, std::initializer_list<const char*> path) {
  const json* at = &j;
  for (const char* key : path) {
    if (!at->is_object() || !at->contains(key)) return std::nan("");
    at = &(*at)[key];
  }
  return at->is_number() ? at->get<double>() : std::nan("");
}

std::string fixed(double v, int digits) {
  if (!std::isfinite(v)) return "";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

// The model benchmarks of a run: one row per board and setting with prefill, decode and memory,
// and each setting's decode speed-up over the FP16-storage baseline measured on the same board.
std::string model_table(const std::vector<db::MeasurementRow>& rows) {
  std::map<std::string, double> fp16_decode;  // board -> ms/token
  for (const auto& m : rows) {
    if (m.kind != "model-bench" || m.status != "ok" || model_setting(m) != "FP16") continue;
    fp16_decode[m.board] =
        number_at(json::parse(m.metrics, nullptr, false), {"decode_ms_per_token", "median"});
  }
  std::ostringstream h;
  bool any = false;
  for (const auto& m : rows) {
    if (m.kind != "model-bench" || m.status != "ok") continue;
    if (!any) {
      h << "<h2>Model</h2><table><tr><th class='l'>board</th><th class='l'>setting</th>"
           "<th>prefill ms</th><th>decode ms/token</th><th>p90</th><th>tokens/s</th>"
           "<th>decode × FP16</th><th>weights MB</th><th>KV cache MB</th><th>peak RSS MiB</th>"
           "<th class='l'>energy/token</th><th class='l'>kernels</th></tr>";
      any = true;
    }
    const json x = json::parse(m.metrics, nullptr, false);
    const double decode = number_at(x, {"decode_ms_per_token", "median"});
    const auto base = fp16_decode.find(m.board);
    h << "<tr><td class='l'>" << html_escape(m.board) << (m.emulated ? " (emulated)" : "")
      << "</td><td class='l'>" << html_escape(model_setting(m)) << "</td><td>"
      << fixed(number_at(x, {"prefill_ms"}), 2) << "</td><td>" << fixed(decode, 3) << "</td><td>"
      << fixed(number_at(x, {"decode_ms_per_token", "p90"}), 3) << "</td><td>"
      << fixed(number_at(x, {"tokens_per_s"}), 0) << "</td><td>"
      << (base != fp16_decode.end() && !m.emulated ? fixed(base->second / decode, 2) : "")
      << "</td><td>" << fixed(number_at(x, {"memory", "weights_bytes"}) / 1e6, 2) << "</td><td>"
      << fixed(number_at(x, {"memory", "kv_cache_bytes"}) / 1e6, 2) << "</td><td>"
      << (m.peak_rss_bytes ? fixed(*m.peak_rss_bytes / 1048576.0, 1) : "") << "</td><td class='l'>"
      << (m.energy_j ? fixed(*m.energy_j * 1e3, 3) + " mJ"
                     : "unavailable: " + html_escape(opt(m.power_unavailable)))
      << "</td><td class='l'>" << html_escape(opt(m.kernel)) << "</td></tr>";
  }
  if (any)
    h << "</table><p class='note'>Prefill: the whole prompt; decode: median and p90 over every "
         "decoded token of every run; × FP16: the FP16-storage decode time of the same board "
         "over this one's.</p>";
  return h.str();
}

std::string html_report(const db::RunRow& run, const std::vector<db::MeasurementRow>& rows,
                        const std::vector<db::AgentRow>& agents) {
  std::ostringstream h;
  h << "<!DOCTYPE html><html><head><meta charset='utf-8'><title>hilq run " << run.id
    << "</title><style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
       "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;"
       "text-align:right}td.l,th.l{text-align:left}.failed{background:#fdd}"
       ".note{color:#666}</style></head><body>";
  h << "<h1>hilq run " << run.id << "</h1>";
  h << "<p>Status: <b>" << html_escape(run.status) << "</b>"
    << (run.message ? " — " + html_escape(*run.message) : "") << "<br>Started "
    << html_escape(run.started_at) << (run.finished_at ? ", finished " + *run.finished_at : "")
    << "<br>Command: <code>" << html_escape(run.command_line) << "</code>"
    << (run.git_sha ? "<br>Build: <code>" + html_escape(*run.git_sha) + "</code>" : "") << "</p>";
  h << model_table(rows);
  h << "<h2>Latency</h2>" << latency_svg(rows);
  h << "<p class='note'>Emulated boards (qemu) are not drawn: their timings are not board "
       "timings. They appear in the table below, marked (emulated), as a check of the code path."
       "</p>";
  if (!agents.empty()) {
    h << "<h2>Agents</h2><table><tr><th class='l'>agent</th><th class='l'>board</th>"
         "<th class='l'>key</th><th class='l'>status</th></tr>";
    for (const auto& a : agents)
      h << "<tr" << (a.status == "quarantined" ? " class='failed'" : "") << "><td class='l'>"
        << html_escape(a.id) << "</td><td class='l'>" << html_escape(a.board)
        << "</td><td class='l'>" << html_escape(opt(a.user_id)) << "</td><td class='l'>"
        << html_escape(a.status) << (a.reason ? ": " + html_escape(*a.reason) : "") << "</td></tr>";
    h << "</table>";
  }
  h << "<h2>Measurements</h2><table><tr><th class='l'>board</th><th class='l'>job</th>"
       "<th class='l'>kernel</th><th>median</th><th>p10</th><th>p90</th><th>MAD</th>"
       "<th>repeats</th><th>GOP/s</th><th>peak RSS (MiB)</th><th class='l'>energy</th>"
       "<th class='l'>status</th></tr>";
  for (const auto& m : rows) {
    const json metrics = json::parse(m.metrics, nullptr, false);
    h << "<tr" << (m.status == "ok" ? "" : " class='failed'") << "><td class='l'>"
      << html_escape(m.board) << (m.emulated ? " (emulated)" : "") << "</td><td class='l'>"
      << html_escape(job_label(m)) << "</td><td class='l'>" << html_escape(opt(m.kernel))
      << "</td>";
    for (const auto& v :
         {m.latency_median_ns, m.latency_p10_ns, m.latency_p90_ns, m.latency_mad_ns})
      h << "<td>" << (v ? html_escape(format_ns(*v)) : "") << "</td>";
    h << "<td>" << opt_num(m.repeats) << "</td><td>";
    if (metrics.is_object() && metrics.contains("gops") && metrics["gops"].is_number()) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.2f", metrics["gops"].get<double>());
      h << buf;
    }
    h << "</td><td>";
    if (m.peak_rss_bytes) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.1f", *m.peak_rss_bytes / 1048576.0);
      h << buf;
    }
    h << "</td><td class='l'>"
      << (m.energy_j ? opt_num(m.energy_j) + " J"
                     : "unavailable: " + html_escape(opt(m.power_unavailable)))
      << "</td><td class='l'>" << html_escape(m.status)
      << (m.error ? ": " + html_escape(opt(m.error_class)) + " " + html_escape(*m.error) : "")
      << "</td></tr>";
  }
  h << "</table></body></html>\n";
  return h.str();
}

std::string csv_report(const std::vector<db::MeasurementRow>& rows) {
  std::ostringstream c;
  c << "run_id,board,agent,job_id,kind,kernel,status,error_class,error,latency_median_ns,"
       "latency_p10_ns,latency_p90_ns,latency_mad_ns,latency_mean_ns,repeats,peak_rss_bytes,"
       "model_bytes,energy_j,power_source,power_unavailable,emulated,config,metrics\n";
  for (const auto& m : rows) {
    const std::vector<std::string> fields = {std::to_string(m.run_id),
                                             m.board,
                                             opt(m.agent),
                                             m.job_id,
                                             m.kind,
                                             opt(m.kernel),
                                             m.status,
                                             opt(m.error_class),
                                             opt(m.error),
                                             opt_num(m.latency_median_ns),
                                             opt_num(m.latency_p10_ns),
                                             opt_num(m.latency_p90_ns),
                                             opt_num(m.latency_mad_ns),
                                             opt_num(m.latency_mean_ns),
                                             opt_num(m.repeats),
                                             opt_num(m.peak_rss_bytes),
                                             opt_num(m.model_bytes),
                                             opt_num(m.energy_j),
                                             opt(m.power_source),
                                             opt(m.power_unavailable),
                                             m.emulated ? "1" : "0",
                                             m.config,
                                             m.metrics};
    for (size_t i = 0; i < fields.size(); ++i) c << (i ? "," : "") << csv_escape(fields[i]);
    c << "\n";
  }
  return c.str();
}

}  // namespace

std::string csv_escape(const std::string& field) {
  if (field.find_first_of(",\"\n\r") == std::string::npos) return field;
  std::string out = "\"";
  for (char ch : field) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

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

ReportFiles write_run_report(db::Database& db, int64_t run_id, const std::string& out_dir) {
  db::RunStore store(db);
  const auto run = store.run(run_id);
  if (!run) throw DbError("run " + std::to_string(run_id) + " is not in " + db.path());
  const auto rows = store.measurements(run_id);
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw std::runtime_error("cannot create report folder " + out_dir + ": " + ec.message());
  ReportFiles files;
  const fs::path dir(out_dir);
  write_file(dir / "report.html", html_report(*run, rows, store.agents(run_id)));
  write_file(dir / "measurements.csv", csv_report(rows));
  json all = {{"run",
               {{"id", run->id},
                {"status", run->status},
                {"command_line", run->command_line},
                {"started_at", run->started_at}}},
              {"measurements", json::array()}};
  for (const auto& m : rows) all["measurements"].push_back(measurement_json(m));
  write_file(dir / "measurements.json", all.dump(2) + "\n");
  for (const char* name : {"report.html", "measurements.csv", "measurements.json"})
    files.paths.push_back((dir / name).string());
  return files;
}

}  // namespace hilq::reports
