// Run reports: files written from the DB alone, CSV quoting, HTML escaping, failed rows kept,
// emulated rows never plotted, the model table. HTML is checked by its tables and SVG elements.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "db/run_store.h"
#include "reports/run_report.h"
#include "tests/reports/html_structure.h"

namespace db = hilq::db;
namespace fs = std::filesystem;
using hilq::test::elements;
using hilq::test::html_tables;
using hilq::test::inner;
using hilq::test::table_under;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("CSV fields with commas, quotes or newlines are quoted per RFC 4180", "[reports]") {
  using hilq::reports::csv_escape;
  CHECK(csv_escape("plain") == "plain");
  CHECK(csv_escape("a,b") == "\"a,b\"");
  CHECK(csv_escape("say \"hi\"") == "\"say \"\"hi\"\"\"");
  CHECK(csv_escape("two\nlines") == "\"two\nlines\"");
  CHECK(hilq::reports::html_escape("<b>&'\"") == "&lt;b&gt;&amp;&#39;&quot;");
}

TEST_CASE("A report holds every measurement of the run, ok and failed", "[reports]") {
  db::Database d(":memory:");
  db::RunStore store(d);
  const int64_t run = store.create_run("hil-search --boards local", std::nullopt);
  // The job config is stored once, with the job: the measurement reads it from there.
  const std::pair<const char*, const char*> jobs[] = {
      {"ok-1", R"({"op":"gemv","w_bits":8,"a_bits":8,"m":256,"k":256})"}, {"bad-1", "{}"}};
  for (const auto& [id, config] : jobs)
    store.insert_job({id, run, std::nullopt, "local", "kernel-bench", config, "queued", 0,
                      std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt});
  db::MeasurementRow ok;
  ok.run_id = run;
  ok.board = "local";
  ok.job_id = "ok-1";
  ok.kind = "kernel-bench";
  ok.kernel = "gemv_w8a8__ref";
  ok.config = R"({"op":"gemv","w_bits":8,"a_bits":8,"m":256,"k":256})";
  ok.latency_median_ns = 12345.0;
  ok.latency_p10_ns = 12000.0;
  ok.latency_p90_ns = 13000.0;
  ok.samples_ns = "[12000,12345,13000]";
  ok.power_unavailable = "no sensor, here";
  store.record_measurement(ok);
  db::MeasurementRow bad;
  bad.run_id = run;
  bad.board = "local";
  bad.job_id = "bad-1";
  bad.kind = "kernel-bench";
  bad.config = "{}";
  bad.status = "failed";
  bad.error_class = "runtime";
  bad.error = "<boom>";
  store.record_measurement(bad);
  store.finish_run(run, "completed");

  const fs::path out = fs::temp_directory_path() / ("hilq_report_test_" + std::to_string(run));
  fs::remove_all(out);
  const auto files = hilq::reports::write_run_report(d, run, out.string());
  CHECK(files.paths.size() == 3);
  const std::string csv = slurp(out / "measurements.csv");
  std::istringstream lines(csv);
  std::string header, line;
  std::getline(lines, header);
  CHECK(header.rfind("run_id,board,agent,job_id", 0) == 0);
  int rows = 0;
  while (std::getline(lines, line)) ++rows;
  CHECK(rows == 2);
  CHECK(csv.find("ok-1") != std::string::npos);
  CHECK(csv.find("\"no sensor, here\"") != std::string::npos);
  const std::string html = slurp(out / "report.html");
  const auto svg = elements(html, "svg");
  REQUIRE(svg.size() == 1);
  CHECK(elements(svg[0], "rect").size() == 1);  // the ok row only
  const auto tables = html_tables(html);
  const auto* measurements = table_under(tables, "Measurements");
  REQUIRE(measurements);
  REQUIRE(measurements->rows.size() == 2);
  const auto* failed = measurements->row_where("job", "kernel-bench");
  REQUIRE(failed);
  CHECK(failed->cls == "failed");
  CHECK(failed->cells.back() == "failed: runtime &lt;boom&gt;");
  CHECK(html.find("<boom>") == std::string::npos);  // never unescaped, anywhere
  const std::string json = slurp(out / "measurements.json");
  CHECK(json.find("\"latency_median_ns\": 12345.0") != std::string::npos);
  fs::remove_all(out);
}

TEST_CASE("Reporting an unknown run is an error naming the run", "[reports]") {
  db::Database d(":memory:");
  CHECK_THROWS_WITH(hilq::reports::write_run_report(d, 42, "/tmp/x"),
                    Catch::Matchers::Contains("run 42"));
}

TEST_CASE("Emulated timings are never drawn as board timings; quarantined agents are listed",
          "[reports]") {
  db::Database d(":memory:");
  db::RunStore store(d);
  const int64_t run = store.create_run("hil-search --boards pi5-qemu", std::nullopt);
  db::MeasurementRow m;
  m.run_id = run;
  m.board = "pi5-qemu";
  m.job_id = "q-1";
  m.kind = "kernel-bench";
  m.config = R"({"m":256,"k":256})";
  m.latency_median_ns = 99000.0;
  m.emulated = true;
  store.record_measurement(m);
  store.upsert_agent({run, "bad-1", "pi5-qemu", std::nullopt, "quarantined",
                      std::string("health check answered wrong")});
  const fs::path out = fs::temp_directory_path() / ("hilq_report_emu_" + std::to_string(getpid()));
  fs::remove_all(out);
  hilq::reports::write_run_report(d, run, out.string());
  const std::string html = slurp(out / "report.html");
  CHECK(html.find("<svg") == std::string::npos);  // nothing to draw: the only row is emulated
  const auto tables = html_tables(html);
  const auto* measurements = table_under(tables, "Measurements");
  REQUIRE(measurements);
  REQUIRE(measurements->rows.size() == 1);
  CHECK(measurements->cell(0, "board") == "pi5-qemu (emulated)");
  const auto* agents = table_under(tables, "Agents");
  REQUIRE(agents);
  const auto* bad = agents->row_where("agent", "bad-1");
  REQUIRE(bad);
  CHECK(bad->cls == "failed");
  CHECK(bad->cells.back() == "quarantined: health check answered wrong");
  fs::remove_all(out);
}

TEST_CASE("Model benchmarks get a table with each setting's speed-up over FP16", "[reports]") {
  db::Database d(":memory:");
  db::RunStore store(d);
  const int64_t run = store.create_run("hil-search --model tiny.safetensors", std::nullopt);
  const struct {
    const char *id, *config, *label;
    double decode_ms;
  } settings[] = {{"m-1", R"({"weights":"fp16"})", "FP16", 0.40},
                  {"m-2", R"({"setting":"W4A8"})", "W4A8", 0.16}};
  for (const auto& s : settings) {
    db::MeasurementRow m;
    m.run_id = run;
    m.board = "local";
    m.job_id = s.id;
    m.kind = "model-bench";
    m.config = s.config;
    m.latency_median_ns = s.decode_ms * 1e6;
    m.power_unavailable = "no sensor";
    m.setting = s.label;
    m.prefill_ms = 13.0;
    m.decode_ms_median = s.decode_ms;
    m.decode_ms_p90 = 0.5;
    m.model_bytes = 5950000;
    m.kv_bytes = 1;
    store.record_measurement(m);
  }
  const fs::path out =
      fs::temp_directory_path() / ("hilq_report_model_" + std::to_string(getpid()));
  fs::remove_all(out);
  hilq::reports::write_run_report(d, run, out.string());
  const std::string html = slurp(out / "report.html");
  fs::remove_all(out);
  const auto tables = html_tables(html);
  const auto* model = table_under(tables, "Model");
  REQUIRE(model);
  // The columns in order: setting, prefill, decode; speed-up, weights.
  const std::vector<std::string> header = {
      "board",       "setting",      "prefill ms",      "decode ms/token",
      "p90",         "tokens/s",     "decode × FP16",   "weights MB",
      "KV cache MB", "peak RSS MiB", "energy mJ/token", "kernels"};
  CHECK(model->header == header);
  const auto* w4 = model->row_where("setting", "W4A8");
  REQUIRE(w4);
  const size_t row = static_cast<size_t>(w4 - model->rows.data());
  CHECK(model->cell(row, "prefill ms") == "13.00");
  CHECK(model->cell(row, "decode ms/token") == "0.160");
  CHECK(model->cell(row, "decode × FP16") == "2.50");  // 0.40 / 0.16
  CHECK(model->cell(row, "weights MB") == "5.95");
  const auto svg = elements(html, "svg");  // the latency plot
  REQUIRE(svg.size() == 1);
  std::vector<std::string> labels;
  for (const auto& t : elements(svg[0], "text")) labels.push_back(inner(t));
  CHECK(std::count(labels.begin(), labels.end(), "local: decode/token W4A8") == 1);
}
