// Each reporter against the known run (known_run.h): measurements.csv and measurements.json equal
// checked-in golden files once numbers and times are normalised; report.html is read back as tables
// and SVG elements, and that structure is a golden file too.
//
// To regenerate the golden files after an intended change of the output, run
//   HILQ_UPDATE_GOLDEN=1 build/ci/tests/reports/hilq_tests_reports '[golden]'
// and review `git diff tests/reports/golden/` before committing it.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "reports/run_report.h"
#include "tests/reports/html_structure.h"
#include "tests/reports/known_run.h"
#include "tests/reports/search_run.h"

namespace db = hilq::db;
namespace fs = std::filesystem;
using namespace hilq::test;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Times become <time>, the output folder <out>, and a number written with more than 6
// significant digits is rounded to 6: the last digits of a derived double (a mean, a ratio) may
// differ between libm versions and are not what these files are tested for.
std::string normalise(std::string text, const std::string& out_dir) {
  for (size_t at = text.find(out_dir); !out_dir.empty() && at != std::string::npos;
       at = text.find(out_dir, at))
    text.replace(at, out_dir.size(), "<out>");
  static const std::regex time(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?)");
  text = std::regex_replace(text, time, "<time>");
  static const std::regex number(R"(-?\d+\.\d+([eE][-+]?\d+)?)");
  std::string out;
  auto last = text.cbegin();
  for (std::sregex_iterator it(text.begin(), text.end(), number), end; it != end; ++it) {
    const std::string n = it->str();
    std::string mantissa = n.substr(0, n.find_first_of("eE"));
    mantissa.erase(
        std::remove_if(mantissa.begin(), mantissa.end(), [](char c) { return c < '0' || c > '9'; }),
        mantissa.end());
    mantissa.erase(0, mantissa.find_first_not_of('0'));
    out.append(last, (*it)[0].first);
    if (mantissa.size() > 6) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.6g", std::stod(n));
      out += buf;
    } else {
      out += n;
    }
    last = (*it)[0].second;
  }
  out.append(last, text.cend());
  return out;
}

// Compares `actual` with tests/reports/golden/<name> in the source tree; with
// HILQ_UPDATE_GOLDEN=1 writes it there instead.
void check_golden(const std::string& name, const std::string& actual) {
  const fs::path golden = fs::path(HILQ_SOURCE_DIR) / "tests/reports/golden" / name;
  const char* update = std::getenv("HILQ_UPDATE_GOLDEN");
  if (update && std::string(update) == "1") {
    std::ofstream(golden, std::ios::binary) << actual;
    WARN("wrote " << golden.string());
    return;
  }
  INFO("golden file " << golden.string()
                      << " (HILQ_UPDATE_GOLDEN=1 regenerates it after an intended change)");
  REQUIRE(fs::exists(golden));
  const std::string expected = slurp(golden);
  if (expected == actual) return;
  // Name the first line that differs, then show both files.
  std::istringstream e(expected), a(actual);
  std::string el, al;
  int line = 1;
  while (std::getline(e, el) && std::getline(a, al) && el == al) ++line;
  INFO("first difference at line " << line << "\n  golden: " << el << "\n  actual: " << al);
  CHECK(actual == expected);
}

// Number of `<tag` starts (self-closing or not) in an SVG.
size_t svg_count(const std::string& svg, const std::string& tag) {
  const auto balance = tag_balance(svg);
  const auto it = balance.find(tag);
  return it == balance.end() ? 0 : static_cast<size_t>(it->second.first);
}

// The readable structure of a report.html: each table with its heading, header and rows
// (class, cells), then the SVG plot's texts and element counts. Coordinates are left out: the
// plot's geometry is checked by the tests, not frozen in a file.
std::string html_structure(const std::string& html) {
  std::ostringstream s;
  for (const auto& t : html_tables(html)) {
    s << "table " << t.heading << "\n  header:";
    for (const auto& h : t.header) s << " | " << h;
    s << "\n";
    for (const auto& r : t.rows) {
      s << "  row" << (r.cls.empty() ? "" : "." + r.cls) << ":";
      for (const auto& c : r.cells) s << " | " << c;
      s << "\n";
    }
  }
  for (const auto& svg : elements(html, "svg")) {
    s << "svg: " << elements(svg, "rect").size() << " rect, " << elements(svg, "title").size()
      << " title";
    // Scatter plots (the search's Pareto section) only: the latency bars have no circles.
    if (const size_t dots = svg_count(svg, "circle")) s << ", " << dots << " circle";
    s << "\n";
    for (const auto& t : elements(svg, "text")) s << "  text: " << inner(t) << "\n";
    for (const auto& t : elements(svg, "title")) s << "  title: " << inner(t) << "\n";
  }
  return s.str();
}

struct KnownReport {
  fs::path out;
  std::string html, csv, json, candidates_csv, pareto_csv, pareto_json;
  std::vector<std::string> paths;
  explicit KnownReport(int64_t (*record)(db::Database&) = record_known_run) {
    db::Database d(":memory:");
    const int64_t run = record(d);
    out = fs::temp_directory_path() / ("hilq_report_golden_" + std::to_string(getpid()));
    fs::remove_all(out);
    paths = hilq::reports::write_run_report(d, run, out.string()).paths;
    html = slurp(out / "report.html");
    csv = slurp(out / "measurements.csv");
    json = slurp(out / "measurements.json");
    if (fs::exists(out / "candidates.csv")) candidates_csv = slurp(out / "candidates.csv");
    if (fs::exists(out / "pareto.csv")) pareto_csv = slurp(out / "pareto.csv");
    if (fs::exists(out / "pareto.json")) pareto_json = slurp(out / "pareto.json");
  }
  ~KnownReport() { fs::remove_all(out); }
};

struct SearchReport : KnownReport {
  SearchReport() : KnownReport(record_search_run) {}
};

}  // namespace

TEST_CASE("measurements.csv of the known run equals its golden file", "[reports][golden]") {
  KnownReport r;
  check_golden("measurements.csv", normalise(r.csv, r.out.string()));
}

TEST_CASE("measurements.json of the known run equals its golden file", "[reports][golden]") {
  KnownReport r;
  check_golden("measurements.json", normalise(r.json, r.out.string()));
}

TEST_CASE("The tables and plot of report.html for the known run equal their golden file",
          "[reports][golden]") {
  KnownReport r;
  check_golden("report.html.structure", normalise(html_structure(r.html), r.out.string()));
}

TEST_CASE("The normaliser rounds only long numbers and hides times and the output folder",
          "[reports][golden]") {
  CHECK(normalise("12345.0,0.0012,12400.123456789", "") == "12345.0,0.0012,12400.1");
  CHECK(normalise("1.234567891e-05 7", "") == "1.23457e-05 7");
  CHECK(normalise("at 2026-11-29T09:26:16.123Z in /tmp/o/x", "/tmp/o") == "at <time> in <out>/x");
}

TEST_CASE("report.html is one document with balanced elements and the sections in order",
          "[reports]") {
  KnownReport r;
  CHECK(r.html.rfind("<!DOCTYPE html><html lang='en'>", 0) == 0);
  CHECK(r.html.size() >= 8);
  CHECK(r.html.substr(r.html.size() - 8) == "</html>\n");
  const auto balance = tag_balance(r.html);
  for (const char* tag : {"html", "head", "body", "table", "tr", "td", "th", "svg", "text", "rect",
                          "line", "title", "h1", "h2", "p", "code", "b", "style"}) {
    CAPTURE(tag);
    if (balance.count(tag)) CHECK(balance.at(tag).first == balance.at(tag).second);
  }
  std::vector<std::string> sections;
  for (const auto& h2 : elements(r.html, "h2")) sections.push_back(inner(h2));
  CHECK(sections == std::vector<std::string>{"Model", "Latency", "Agents", "Measurements"});
  CHECK(inner(elements(r.html, "h1").at(0)) == "hilq run 1");
  // Run metadata, escaped.
  const std::string status = inner(elements(r.html, "p").at(0));
  CHECK(status.find("<b class='status completed'>completed</b> — 5 of 7 jobs &amp; 2 more") !=
        std::string::npos);
  CHECK(status.find("<code>hil-search --boards local,pi5-qemu --model &quot;tiny&quot;"
                    ".safetensors</code>") != std::string::npos);
  CHECK(status.find("<code>0123abc</code>") != std::string::npos);
}

TEST_CASE("The model table of the known run: speed-up over FP16, energy or its reason",
          "[reports]") {
  KnownReport r;
  const auto tables = html_tables(r.html);
  const auto* model = table_under(tables, "Model");
  REQUIRE(model);
  REQUIRE(model->rows.size() == 5);
  auto row = [&](const std::string& board, const std::string& setting) {
    for (size_t i = 0; i < model->rows.size(); ++i)
      if (model->cell(i, "board") == board && model->cell(i, "setting") == setting) return i;
    FAIL("no model row " << board << " " << setting);
    return size_t{0};
  };
  const size_t fp16 = row("local", "FP16"), w4 = row("local", "W4A8"), w8 = row("local", "W8A8");
  CHECK(model->cell(fp16, "decode × FP16") == "1.00");
  CHECK(model->cell(w4, "decode × FP16") == "2.50");  // 0.40 / 0.16
  CHECK(model->cell(w8, "decode × FP16") == "1.67");  // 0.40 / 0.24
  CHECK(model->cell(w4, "tokens/s") == "6250");
  CHECK(model->cell(w4, "p90") == "0.200");
  CHECK(model->cell(w4, "KV cache MB") == "1.05");
  CHECK(model->cell(w4, "peak RSS MiB") == "24.0");
  CHECK(model->cell(fp16, "energy mJ/token") == "1.200");
  // Unavailable energy: a dash in the row, the reason once per board under the table.
  CHECK(model->cell(w4, "energy mJ/token") == "—");
  CHECK(r.html.find("<b>Energy per token unavailable</b> on local for 2 of 3 measurements: no "
                    "power sensor on this board") != std::string::npos);
  CHECK(model->cell(w4, "kernels") ==
        "<code class='k' title='gemv_w4a8_g32_1x16__avx2'>avx2: gemv w4a8</code>");
  // Emulated rows are listed, marked, and get no speed-up.
  const size_t q = row("pi5-qemu (emulated)", "W4A8");
  CHECK(model->cell(q, "decode × FP16").empty());

  const auto svg = elements(r.html, "svg");
  REQUIRE(svg.size() == 1);
  CHECK(elements(svg[0], "rect").size() == 4);  // k-1, m-1..m-3: no failed, no emulated row
  for (const auto& t : elements(svg[0], "text"))
    CHECK(inner(t).find("pi5-qemu") == std::string::npos);
}

TEST_CASE("A run without candidates gets no candidates.csv and no search section", "[reports]") {
  KnownReport r;
  CHECK(r.paths.size() == 3);
  CHECK(!fs::exists(r.out / "candidates.csv"));
  CHECK(r.html.find("Pareto") == std::string::npos);
  CHECK(r.json.find("\"search\"") == std::string::npos);
}

TEST_CASE("candidates.csv of the search run equals its golden file", "[reports][golden]") {
  SearchReport r;
  CHECK(r.paths.size() == 6);
  check_golden("search_candidates.csv", normalise(r.candidates_csv, r.out.string()));
}

TEST_CASE("measurements.json of the search run, its search object included, equals its golden file",
          "[reports][golden]") {
  SearchReport r;
  check_golden("search_measurements.json", normalise(r.json, r.out.string()));
}

TEST_CASE("pareto.csv of the search run equals its golden file", "[reports][golden]") {
  SearchReport r;
  check_golden("search_pareto.csv", normalise(r.pareto_csv, r.out.string()));
}

TEST_CASE("pareto.json of the search run (board rows, energy, progress) equals its golden file",
          "[reports][golden]") {
  SearchReport r;
  check_golden("search_pareto.json", normalise(r.pareto_json, r.out.string()));
}

TEST_CASE("The tables and plots of report.html for the search run equal their golden file",
          "[reports][golden]") {
  SearchReport r;
  check_golden("search_report.html.structure", normalise(html_structure(r.html), r.out.string()));
}
