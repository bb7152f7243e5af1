// The search report: the 2-D hypervolume against a brute-force count, search progress by hand,
// comparable runs found by their limits, and report.html's board sections for the search run
// (search_run.h): a plot per objective, baselines off the scale named, the pick and its bit
// widths, the board table with its speed-up over FP16, and energy said unavailable once.
#include <unistd.h>

#include <array>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <regex>
#include <set>
#include <sstream>

#include "reports/format.h"
#include "reports/progress.h"
#include "reports/run_report.h"
#include "reports/run_view.h"
#include "tests/reports/html_structure.h"
#include "tests/reports/search_run.h"

namespace db = hilq::db;
namespace fs = std::filesystem;
using namespace hilq::test;
using hilq::reports::hypervolume_2d;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A second search of the same study (same metric, limit and budget) by another strategy, with
// three scorings: feasible (20.2, 2.5 MB), infeasible, feasible (20.9, 1.4 MB); and a third run
// under another limit, which is not the same study.
void record_other_runs(db::Database& d) {
  db::RunStore store(d);
  db::EvaluationStore evals(d);
  auto run_with = [&](const std::string& constraints,
                      std::initializer_list<std::tuple<const char*, double, int64_t>> rows) {
    const int64_t run = store.create_run("hil-search --strategy nsga2", std::nullopt, constraints);
    int i = 0;
    for (const auto& [status, value, memory] : rows) {
      const int64_t id = evals.candidate(run, "{}", "other-" + std::to_string(++i), "nsga2", {});
      db::Statement u(d, "UPDATE candidates SET status = ?, memory_bytes = ? WHERE id = ?");
      u.bind_all(std::string(status), memory, id).run();
      evals.record({id, "validation", "perplexity", value});
    }
    store.finish_run(run, "completed", std::nullopt);
  };
  std::string same = kSearchConstraints;
  same.insert(same.size() - 1, R"(,"strategy":"nsga2","seed":7)");
  run_with(
      same,
      {{"feasible", 20.2, 2500000}, {"over-quality", 22.0, 1000000}, {"feasible", 20.9, 1400000}});
  std::string other = same;
  other.replace(other.find("\"metric_limit\":21.0"), 19, "\"metric_limit\":25.0");
  run_with(other, {{"feasible", 20.0, 1000000}});
}

struct Report {
  fs::path out;
  std::string html;
  hilq::reports::RunView view;
  explicit Report(bool other_runs = false,
                  const std::function<void(db::Database&, int64_t)>& more = {}) {
    db::Database d(":memory:");
    const int64_t run = record_search_run(d);
    if (other_runs) record_other_runs(d);
    if (more) more(d, run);
    view = hilq::reports::load_run_view(d, run);
    out = fs::temp_directory_path() / ("hilq_report_pareto_" + std::to_string(getpid()));
    fs::remove_all(out);
    hilq::reports::write_run_report(d, run, out.string());
    html = slurp(out / "report.html");
  }
  ~Report() { fs::remove_all(out); }
  Report(const Report&) = delete;
  Report& operator=(const Report&) = delete;
};

// The <svg class='plot'> of a board and objective, or "".
std::string plot(const std::string& html, const std::string& board, const std::string& objective) {
  for (const auto& svg : elements(html, "svg"))
    if (attribute(svg, "class") == "plot" && attribute(svg, "data-board") == board &&
        attribute(svg, "data-objective") == objective)
      return svg;
  return "";
}

}  // namespace

TEST_CASE("The 2-D hypervolume equals a count of the unit cells the points dominate",
          "[reports][hypervolume]") {
  // By hand: three steps of a staircase under (4, 4): 3 + 2 + 1.
  CHECK(hypervolume_2d({{1, 3}, {2, 2}, {3, 1}}, {4, 4}) == 6.0);
  CHECK(hypervolume_2d({}, {4, 4}) == 0.0);
  // Dominated and duplicate points add nothing; points on or past the reference add nothing.
  CHECK(hypervolume_2d({{1, 3}, {1, 3}, {2, 3}, {4, 0}, {0, 4}, {5, 5}}, {4, 4}) == 3.0);
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> coord(0, 19), size(1, 12);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<std::array<double, 2>> points(static_cast<size_t>(size(rng)));
    for (auto& p : points) p = {static_cast<double>(coord(rng)), static_cast<double>(coord(rng))};
    // Cell [i, i+1) x [j, j+1) is dominated when some point is at or below its lower corner.
    int cells = 0;
    for (int i = 0; i < 20; ++i)
      for (int j = 0; j < 20; ++j)
        for (const auto& p : points)
          if (p[0] <= i && p[1] <= j) {
            ++cells;
            break;
          }
    CAPTURE(trial);
    CHECK(hypervolume_2d(points, {20, 20}) == cells);  // integers: exact
  }
}

TEST_CASE("Search progress: best feasible metric and hypervolume after each scoring, by hand",
          "[reports]") {
  const Report r;
  const auto& s = *r.view.search;
  REQUIRE(s.traces.size() == 1);
  // Scorings in id order, FP32/FP16 and the pruned moves left out: W8A8, W4A8 g32, W4A4
  // (over quality), b0-1, attn W8, W8A16 (over budget).
  REQUIRE(s.traces[0].scorings.size() == 6);
  CHECK(s.traces[0].strategy == "tiered");  // a run that does not name one
  const auto points = hilq::reports::progress_of(s.traces[0], s.constraints);
  REQUIRE(points.size() == 6);
  // Reference (21, 3 MB): 0.9 x 0.02; + 0.2 x 1.38; unchanged; + (20.4, 2.2): 0.018 + 0.6 x
  // 0.78 + 0.2 x 0.6; + (20.6, 1.9): 0.018 + 0.468 + 0.4 x 0.3 + 0.2 x 0.3; unchanged.
  const double expected[] = {0.018, 0.294, 0.294, 0.606, 0.666, 0.666};
  for (size_t i = 0; i < 6; ++i) {
    CAPTURE(i);
    CHECK(points[i].evaluations == static_cast<int>(i) + 1);
    CHECK(points[i].best == Approx(20.1));
    CHECK(points[i].hypervolume == Approx(expected[i]).margin(1e-6));
  }
}

TEST_CASE("Runs of the same study by other strategies are traced beside this one", "[reports]") {
  const Report r(/*other_runs=*/true);
  const auto& s = *r.view.search;
  REQUIRE(s.traces.size() == 2);  // not the run under another limit
  CHECK(s.traces[1].strategy == "nsga2");
  CHECK(s.traces[1].seed == 7);
  const auto points = hilq::reports::progress_of(s.traces[1], s.constraints);
  REQUIRE(points.size() == 3);
  CHECK(points[0].hypervolume == Approx(0.8 * 0.5).margin(1e-6));
  CHECK(points[2].hypervolume == Approx(0.8 * 0.5 + 0.1 * 1.1).margin(1e-6));
  CHECK(points[2].best == Approx(20.2));
  // Side by side in the page: a line per run, both strategies in the table.
  const auto tables = html_tables(r.html);
  const auto* progress = table_under(tables, "Search progress");
  REQUIRE(progress);
  REQUIRE(progress->rows.size() == 2);
  CHECK(progress->cell(0, "strategy").find("tiered") != std::string::npos);
  CHECK(progress->cell(1, "strategy").find("nsga2") != std::string::npos);
  CHECK(progress->cell(1, "hypervolume") == "0.5100");
  CHECK(count(r.html, "class='trace'") == 4);  // two runs, two plots
}

TEST_CASE("A board section: a plot per objective, baselines named off the scale, the pick",
          "[reports]") {
  const Report r;
  // Energy measured on local only: three plots there, two on the emulated board.
  for (const char* objective : {"latency", "memory", "energy"}) {
    CAPTURE(objective);
    CHECK(!plot(r.html, "local", objective).empty());
  }
  CHECK(!plot(r.html, "pi5-qemu", "latency").empty());
  CHECK(!plot(r.html, "pi5-qemu", "memory").empty());
  CHECK(plot(r.html, "pi5-qemu", "energy").empty());
  // Real boards first, the emulated one after, marked in its plots.
  CHECK(r.html.find("id='board-local'") < r.html.find("id='board-pi5-qemu'"));
  CHECK(plot(r.html, "pi5-qemu", "latency").find("EMULATED (qemu)") != std::string::npos);
  CHECK(plot(r.html, "local", "latency").find("EMULATED") == std::string::npos);

  // FP32 (11.9 MB) and FP16 (5.95 MB, no metric scored) lie far past the searched candidates and
  // the 3 MB budget: each sits on the edge with its value, and the axis stays near the budget.
  const std::string memory = plot(r.html, "local", "memory");
  CHECK(memory.find("FP32 11.90 MB") != std::string::npos);
  CHECK(memory.find("FP16 5.95 MB") != std::string::npos);
  double last_tick = 0;
  for (const auto& t : elements(memory, "text"))
    if (std::regex_match(inner(t), std::regex(R"(\d+(\.\d+)?)"))) {
      if (attribute(t, "text-anchor") == "middle") last_tick = std::stod(inner(t));
    }
  CHECK(last_tick < 5);
  const std::string latency = plot(r.html, "local", "latency");
  CHECK(latency.find("FP32 0.800 ms") != std::string::npos);
  CHECK(latency.find("FP16 0.540 ms") != std::string::npos);
  // The pick ringed; the front a step path; infeasible candidates grey rings (memory plot only:
  // never measured on a board).
  CHECK(count(latency, "class='pick'") == 1);
  CHECK(count(latency, "class='front'") == 1);
  CHECK(count(memory, "dot infeasible") == 2);  // W4A4, W8A16
  CHECK(count(latency, "dot infeasible") == 0);
  // Every point has a tooltip with its config summary and figures.
  CHECK(latency.find("<title>W4A8 b0-1 &amp; W8A8 &lt;rest&gt; (block, feasible) — the pick"
                     "&#10;validation perplexity 20.400 · test 20.800&#10;memory 2.20 MB · "
                     "decode 0.240 ms/token (p90 0.300) · ×2.25 FP16&#10;on the latency, "
                     "memory front</title>") != std::string::npos);
}

TEST_CASE("The pick's bit widths as a heat strip, each front member's on demand", "[reports]") {
  const Report r;
  const auto& s = *r.view.search;
  const auto* pick = s.candidate(s.boards[0].pick->candidate_id);
  REQUIRE(pick);
  // Units in model order, whatever the config's order.
  REQUIRE(pick->units.size() == 4);
  CHECK(pick->units[0].name == "embed");
  CHECK(pick->units[1].name == "layers.0.attn.q");
  CHECK(pick->units[2].name == "layers.0.mlp.down");
  CHECK(pick->units[2].group == 32);
  CHECK(pick->units[3].name == "layers.1.attn.q");
  CHECK(pick->units[3].token_adaptive);
  CHECK(pick->units[3].high_bits == 8);
  const std::string id = "bits-local-" + std::to_string(pick->id);
  const size_t at = r.html.find("<figure class='strip' id='" + id + "'>");
  REQUIRE(at != std::string::npos);
  CHECK(at < r.html.find("<details class='strips'>"));  // shown, not folded
  const std::string strip = elements(r.html, "svg", at).at(0);
  CHECK(count(strip, "class='w'") == 4);
  CHECK(count(strip, "class='a'") == 4);
  CHECK(strip.find("<title>layers.0.mlp.down: weights 4 bits in groups of 32</title>") !=
        std::string::npos);
  CHECK(strip.find("<title>layers.1.attn.q: activations token-adaptive 8/4 bits</title>") !=
        std::string::npos);
  // The other front members, folded; their labels in the table and their dots link to them.
  const auto* other = s.candidate(s.boards[0].front("metric-memory")->front());
  REQUIRE(other);
  const std::string other_id = "bits-local-" + std::to_string(other->id);
  CHECK(r.html.find("<details class='strips'>") < r.html.find("id='" + other_id + "'"));
  CHECK(count(r.html, "href='#" + other_id + "'") >= 2);
}

TEST_CASE("A board table: baselines, fronts and pick with every figure, energy said once",
          "[reports]") {
  const Report r;
  const auto tables = html_tables(r.html);
  const auto* local = table_under(tables, "Pareto — local");
  REQUIRE(local);
  // Fastest first: W4A8 g32, the pick, attn W8, W8A8, FP16, FP32.
  REQUIRE(local->rows.size() == 6);
  CHECK(local->cell(0, "configuration").find("W4A8 g32</a>") != std::string::npos);
  CHECK(local->rows[1].cls == "pick");
  CHECK(local->cell(1, "configuration").find("<span class='badge pick'>pick</span>") !=
        std::string::npos);
  CHECK(local->cell(1, "validation perplexity") == "20.400");
  CHECK(local->cell(1, "test perplexity") == "20.800");
  CHECK(local->cell(1, "decode ms/token") == "0.240");
  CHECK(local->cell(1, "p90") == "0.300");
  CHECK(local->cell(1, "prefill ms") == "4.80");
  CHECK(local->cell(1, "tokens/s") == "4167");
  CHECK(local->cell(1, "memory MB") == "2.20");
  CHECK(local->cell(1, "energy mJ/token") == "—");
  CHECK(local->cell(0, "energy mJ/token") == "0.800");
  CHECK(local->cell(1, "× FP16") == "2.25");  // 0.54 / 0.24
  CHECK(local->cell(0, "× FP16") == "3.00");  // 0.54 / 0.18
  CHECK(local->cell(1, "kernel").find(">avx2: gemv w4a8</code>") != std::string::npos);
  CHECK(local->cell(1, "fronts") == "latency, memory");
  CHECK(local->rows[4].cls == "baseline");
  CHECK(local->cell(4, "configuration") == "FP16 <span class='tier'>float</span>");
  CHECK(local->cell(4, "validation perplexity") == "—");
  CHECK(local->cell(4, "× FP16") == "1.00");
  // Energy: one note per board with the reason, never a reason per row.
  CHECK(count(r.html, "RAPL not readable") == 1);
  CHECK(r.html.find("<b>Energy per token unavailable</b> on local for 3 of 6 measurements: "
                    "RAPL not readable: &lt;permission&gt;") != std::string::npos);
  CHECK(count(r.html, "<b>Energy per token unavailable</b> on pi5-qemu: emulated board") == 1);
  CHECK(r.html.find("unavailable: ") == std::string::npos);
}

TEST_CASE("Kernel names are summarised by ISA, ops and formats", "[reports]") {
  using hilq::reports::kernel_summary;
  CHECK(kernel_summary("gemm_w4a8_32x8__avx512vnni+gemm_w2a8_32x8__avx512vnni+"
                       "gemv_w4a8_32x1__avx512vnni") == "avx512vnni: gemm/gemv w4a8 w2a8");
  CHECK(kernel_summary("gemv_fp16_4x1__neon") == "neon: gemv fp16");
  CHECK(kernel_summary("gemv_w4a8_g32_1x16__avx2") == "avx2: gemv w4a8");
  CHECK(kernel_summary("custom") == "custom");
  CHECK(kernel_summary("").empty());
}

TEST_CASE("report.html is self-contained: a policy that forbids every load, no external URL",
          "[reports]") {
  const Report r;
  CHECK(r.html.find("<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
                    "style-src 'unsafe-inline'; img-src data:\">") != std::string::npos);
  CHECK(r.html.find("<meta name='viewport'") != std::string::npos);
  CHECK(r.html.find("<script") == std::string::npos);
  // The one URL is the SVG namespace, which is a name, not a load.
  std::string rest = r.html;
  for (size_t at = rest.find("http://www.w3.org/2000/svg"); at != std::string::npos;
       at = rest.find("http://www.w3.org/2000/svg"))
    rest.erase(at, 26);
  CHECK(rest.find("http://") == std::string::npos);
  CHECK(rest.find("https://") == std::string::npos);
  CHECK(rest.find("url(") == std::string::npos);
  CHECK(rest.find("@import") == std::string::npos);
}

TEST_CASE("A candidate trained by QAT is drawn with an arrow from its PTQ parent", "[reports]") {
  const Report r(false, [](db::Database& d, int64_t run) {
    // "attn W8, mlp W4" (module, 1.9 MB, perplexity 20.6, 0.26 ms on local) trained: 20.3.
    db::Statement parent(d, "SELECT id, config FROM candidates WHERE label = 'attn W8, mlp W4'");
    REQUIRE(parent.step());
    const int64_t parent_id = parent.column_int(0);
    db::EvaluationStore evals(d);
    const int64_t id =
        evals.candidate(run, parent.column_text(1), "hash-qat", std::string("qat"), parent_id);
    db::Statement u(d,
                    "UPDATE candidates SET label = 'attn W8, mlp W4 +QAT', memory_bytes = "
                    "1900000, status = 'feasible', artifact_sha256 = 'sha-qat' WHERE id = ?");
    u.bind_all(id).run();
    evals.record({id, "validation", "perplexity", 20.3});
    auto m = measurement(run, "local", "c-qat", "model-bench",
                         R"({"candidate":)" + std::to_string(id) + "}");
    m.candidate_id = id;
    m.setting = "attn W8, mlp W4 +QAT";
    m.latency_median_ns = 0.26e6;
    m.decode_ms_median = 0.26;
    m.model_bytes = 1900000;
    db::RunStore(d).record_measurement(m);
  });
  for (const char* objective : {"latency", "memory"}) {
    CAPTURE(objective);
    const std::string svg = plot(r.html, "local", objective);
    CHECK(count(svg, "class='qat-arrow'") == 1);
    CHECK(svg.find("<title>QAT of attn W8, mlp W4: validation perplexity 20.600 to 20.300"
                   "</title>") != std::string::npos);
  }
  // Not measured on the emulated board: no arrow there.
  CHECK(count(plot(r.html, "pi5-qemu", "latency"), "class='qat-arrow'") == 0);
  CHECK(r.html.find("→ QAT (Squat) of a PTQ candidate") != std::string::npos);
}
