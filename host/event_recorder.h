// Broker events → database rows: agents joining, leaving and quarantined, jobs started and
// re-queued (the durable queue), results and final errors as measurements, one transaction per
// poll. Prints the run's progress lines. Works on any Database, so it is tested without sockets.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "db/database.h"
#include "db/measurement_store.h"
#include "db/run_store.h"
#include "host/broker.h"
#include "protocol/message.h"

namespace hilq::host {

class EventRecorder {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    double job_timeout_s = 600.0;  // the lease a started job gets
    std::FILE* log = stderr;       // progress lines; nullptr: silent
  };
  // `emulated`: board name → whether its timings are emulated (qemu).
  EventRecorder(db::Database& db, int64_t run_id, std::map<std::string, bool> emulated,
                Options options);

  // A job of this run: its result is decoded by its kind. Unknown job ids are ignored.
  void expect(const protocol::Job& job);
  // Jobs finished before this session (--resume) and jobs in all, for "[n/total]" lines.
  void set_finished_before(size_t n) { recorded_ = n; }
  void set_total(size_t total) { total_ = total; }

  // Records one poll's events in one transaction. Returns the measurement rows it recorded, in
  // order; a duplicate result (already recorded) is not among them.
  std::vector<db::MeasurementRow> record(const std::vector<BrokerEvent>& events);

  size_t recorded() const { return recorded_; }  // finished jobs, this session and before
  size_t ok() const { return ok_; }              // results of this session
  size_t failed() const { return failed_; }
  // Per board, the last refusal of an agent (explains a connect timeout).
  const std::map<std::string, std::string>& refusals() const { return refusals_; }
  // Agent id → "board: reason".
  const std::map<std::string, std::string>& quarantined() const { return quarantined_; }
  std::optional<Clock::time_point> first_dispatch() const { return first_dispatch_; }
  std::optional<Clock::time_point> last_result() const { return last_result_; }

 private:
  void handle(const BrokerEvent& ev, std::vector<db::MeasurementRow>& rows);
  std::string eta() const;

  db::Database& db_;
  db::RunStore runs_;
  db::MeasurementStore measurements_;
  int64_t run_id_;
  std::map<std::string, bool> emulated_;
  Options options_;
  std::map<std::string, protocol::Job> jobs_;
  size_t recorded_ = 0, total_ = 0, ok_ = 0, failed_ = 0;
  std::map<std::string, std::string> refusals_, quarantined_;
  std::map<std::string, std::string> agent_versions_;  // by agent id, from its HELLO
  std::optional<Clock::time_point> first_dispatch_, last_result_;
  LogLimiter limiter_;  // per-peer lines: refusals, joins, re-queues
};

// A lease end `seconds` from now as ISO-8601 UTC, in the format of every time column.
std::string utc_in(double seconds);

}  // namespace hilq::host
