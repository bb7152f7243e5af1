// bench_scoring: host scoring throughput of the search on one float LM (see
// search/scoring_bench.h).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "base/cli.h"
#include "search/scoring_bench.h"

namespace {

namespace fs = std::filesystem;

std::string load_average() {
  double l[3] = {0, 0, 0};
  if (getloadavg(l, 3) != 3) return "unavailable";
  char s[64];
  std::snprintf(s, sizeof s, "%.2f %.2f %.2f", l[0], l[1], l[2]);
  return s;
}

// A folder removed when the bench ends: packed candidates must be packed, not found.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("hilq_bench_scoring_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

int run(int argc, char** argv) {
  CLI::App app{R"(Measures how fast the search scores candidates on this host: for every setting
and thread count, the calibration scoring of a new config as the sensitivity tier runs it (pack
with the PTQ clipping, load, score against the float model) and the validation scoring of the
packed file, each --repeats times (medians). Prints tokens/s of the scoring itself, candidates/s
with packing and loading counted, and the load average before and after.)",
               "bench_scoring"};
  hilq::cli::configure(app);
  std::string model, data = HILQ_DATA_DIR, settings = "FP32,W8A8,W4A8,W4A8-E8,W4A4-TA8/4";
  std::string threads = "1,2";  // the default of --threads
  hilq::search::ScoringBenchOptions o;
  app.add_option("--model", model, "the float causal LM (hil-train checkpoint)")
      ->required()
      ->type_name("FILE");
  app.add_option("--data", data, "corpus folder (default the source tree's data/)")
      ->type_name("DIR");
  app.add_option("--settings", settings,
                 "settings to score (default FP32,W8A8,W4A8,W4A8-E8,W4A4-TA8/4)")
      ->type_name("LIST");
  app.add_option("--threads", threads, "scoring threads, a run each (default 1,2)")
      ->type_name("LIST");
  app.add_option("--repeats", o.repeats, "scorings per row, the median reported (default 3)")
      ->type_name("N")
      ->check(CLI::Range(1, 1000));
  app.add_option("--calibration-windows", o.scorer.calibration_windows,
                 "windows of the train slice (default 8, as hil-search)")
      ->type_name("N")
      ->check(CLI::Range(1, 100000));
  app.add_option("--validation-windows", o.scorer.validation_windows,
                 "validation windows (default 64, as hil-search)")
      ->type_name("N")
      ->check(CLI::Range(1, 100000));
  app.add_option("--max-docs", o.scorer.max_docs_per_split, "only the first N documents per split")
      ->type_name("N")
      ->check(CLI::Range(1, 100000));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return hilq::cli::parse_error_exit(app, e);
  }
  for (const auto& s : hilq::cli::split_list(settings)) {
    try {
      o.settings.push_back(hilq::model::Setting::parse(s));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_scoring: --settings: %s\n", e.what());
      return hilq::cli::kExitUsage;
    }
  }
  for (const auto& t : hilq::cli::split_list(threads)) {
    char* end = nullptr;
    const long v = std::strtol(t.c_str(), &end, 10);
    if (t.empty() || *end || v < 1 || v > 256) {
      std::fprintf(stderr, "bench_scoring: --threads: '%s' is not a count from 1 to 256\n",
                   t.c_str());
      return hilq::cli::kExitUsage;
    }
    o.thread_counts.push_back(static_cast<int>(v));
  }
  const TempDir cache;
  o.scorer.model_path = model;
  o.scorer.data_dir = data;
  o.scorer.cache_dir = cache.path.string();
  o.scorer.test_windows = 1;  // never scored here
  o.progress = [](const std::string& line) {
    std::fprintf(stderr, "bench_scoring: %s\n", line.c_str());
  };
  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  const std::string before = load_average();
  const auto b = hilq::search::bench_scoring(o);
  std::printf(
      "bench_scoring %s, %s: %d calibration and %d validation windows of %d tokens, "
      "median of %d\n",
      date, model.c_str(), b.calibration_windows, b.validation_windows, b.seq, o.repeats);
  std::printf("load average before %s, after %s\n\n", before.c_str(), load_average().c_str());
  std::printf("%s", hilq::search::format_scoring_bench(b).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return hilq::cli::guard("bench_scoring", [&] { return run(argc, argv); });
}
