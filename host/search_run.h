// One hil-search run: boards from their files, agents started and checked, jobs queued and
// their results recorded in SQLite as they arrive, then the report. Nothing already recorded is
// lost on an error or Ctrl-C: each result is committed when it arrives and the run is marked.
#pragma once

#include <string>
#include <vector>

namespace hilq::host {

struct SearchOptions {
  std::vector<std::string> boards = {"local"};
  std::string db_path = "hil.db";
  std::string out_dir = "results/latest";
  std::string boards_dir = HILQ_SOURCE_DIR "/boards";
  std::string endpoint = "tcp://127.0.0.1:5555";
  std::string agent_binary;          // default: the hil-agent built with this hil-search
  double connect_timeout_s = 30.0;   // for every board's first agent to say HELLO
  double job_timeout_s = 600.0;      // for the whole queue to drain once agents are there
  double min_time_s = 0.2;           // each kernel-bench job repeats at least this long
  std::string command_line;          // recorded with the run
};

// Process exit code: 0 completed, 1 failed, 130 interrupted.
int run_search(const SearchOptions& options);

// Asks a running run_search() to stop (async-signal-safe).
void request_search_stop();

}  // namespace hilq::host
