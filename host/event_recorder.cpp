// Broker events to rows and progress lines (see event_recorder.h).
#include "host/event_recorder.h"

#include <ctime>
#include <nlohmann/json.hpp>

#include "base/log.h"
#include "host/result_rows.h"

namespace hilq::host {
namespace {

using nlohmann::json;

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

}  // namespace

std::string utc_in(double seconds) {
  using namespace std::chrono;
  const auto t =
      system_clock::now() + duration_cast<system_clock::duration>(duration<double>(seconds));
  const std::time_t tt = system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// "; ETA 1m05s" from this session's pace (results so far over the time since the first
// dispatch); empty before a pace is known or when nothing is left.
std::string EventRecorder::eta() const {
  const size_t done = ok_ + failed_;
  if (!first_dispatch_ || done == 0 || recorded_ >= total_) return {};
  const double elapsed = std::chrono::duration<double>(Clock::now() - *first_dispatch_).count();
  const auto left = static_cast<int>(elapsed / static_cast<double>(done) *
                                     static_cast<double>(total_ - recorded_));
  char buf[48];
  if (left >= 60)
    std::snprintf(buf, sizeof(buf), "; ETA %dm%02ds", left / 60, left % 60);
  else
    std::snprintf(buf, sizeof(buf), "; ETA %ds", left);
  return buf;
}

EventRecorder::EventRecorder(db::Database& db, int64_t run_id, std::map<std::string, bool> emulated,
                             Options options)
    : db_(db),
      runs_(db),
      measurements_(db),
      run_id_(run_id),
      emulated_(std::move(emulated)),
      options_(options),
      limiter_(options.log, "hil-search") {}

void EventRecorder::expect(const protocol::Job& job) { jobs_[job.job_id] = job; }

std::vector<db::MeasurementRow> EventRecorder::record(const std::vector<BrokerEvent>& events) {
  std::vector<db::MeasurementRow> rows;
  if (events.empty()) return rows;
  db::Transaction batch(db_);
  for (const auto& ev : events) handle(ev, rows);
  batch.commit();
  return rows;
}

void EventRecorder::handle(const BrokerEvent& ev, std::vector<db::MeasurementRow>& rows) {
  using K = BrokerEvent::Kind;
  std::FILE* log = options_.log;
  const auto user = ev.user_id.empty() ? std::optional<std::string>() : ev.user_id;
  const auto board = emulated_.find(ev.board);
  const bool emulated = board != emulated_.end() && board->second;
  switch (ev.kind) {
    case K::kAgentRefused: {
      // Every string here is the peer's: escaped and cut, and a refusal is kept (to explain a
      // connect timeout) only for a board of this run, so refused HELLOs cannot grow the host.
      const std::string why =
          "agent " + log_safe(ev.agent_id, 64) + " refused: " + log_safe(ev.message, 300);
      // A second connection claiming a live id is logged by the broker, with its routing id.
      if (log && ev.error_class != protocol::kErrorIdInUse && limiter_.allow(ev.agent_id))
        std::fprintf(log, "hil-search: agent %s for %s refused: %s\n",
                     log_safe(ev.agent_id, 64).c_str(), log_safe(ev.board, 64).c_str(),
                     log_safe(ev.message, 300).c_str());
      if (emulated_.contains(ev.board)) refusals_[ev.board] = why;
      break;
    }
    case K::kAgentJoined: {
      const auto& h = *ev.hello;
      if (log && limiter_.allow(ev.agent_id))
        std::fprintf(log, "hil-search: agent %s joined for %s (%s, %d cores, %s)%s\n",
                     log_safe(ev.agent_id, 64).c_str(), log_safe(ev.board, 64).c_str(),
                     log_safe(h.arch, 32).c_str(), h.cores, log_safe(join(h.features, ",")).c_str(),
                     ev.user_id.empty() ? "" : (" key " + log_safe(ev.user_id, 64)).c_str());
      runs_.upsert_board({ev.board, h.arch, json(h.features).dump(), h.cores, h.memory_bytes,
                          h.agent_version, emulated});
      runs_.upsert_agent({run_id_, ev.agent_id, ev.board, user, "connected", std::nullopt});
      agent_versions_[ev.agent_id] = h.agent_version;
      break;
    }
    case K::kAgentLost:
    case K::kAgentLeft:
      runs_.upsert_agent({run_id_, ev.agent_id, ev.board, user,
                          ev.kind == K::kAgentLost ? "lost" : "left",
                          ev.message.empty() ? std::optional<std::string>() : ev.message});
      break;
    case K::kAgentQuarantined:
      quarantined_[ev.agent_id] = ev.board + ": " + ev.message;
      runs_.upsert_agent({run_id_, ev.agent_id, ev.board, user, "quarantined", ev.message});
      break;
    case K::kJobStarted:
      if (!first_dispatch_) first_dispatch_ = Clock::now();
      runs_.job_started(ev.job_id, ev.agent_id, utc_in(options_.job_timeout_s));
      break;
    case K::kJobRequeued:
      if (log && limiter_.allow(ev.agent_id))
        std::fprintf(log, "hil-search: job %s re-queued after try %d on %s: [%s] %s\n",
                     ev.job_id.c_str(), ev.attempt, log_safe(ev.agent_id, 64).c_str(),
                     ev.error_class.c_str(), log_safe(ev.message).c_str());
      runs_.job_requeued(ev.job_id, ev.error_class, ev.message);
      break;
    case K::kResult:
    case K::kJobError: {
      auto job = jobs_.find(ev.job_id);
      if (job == jobs_.end()) break;
      auto row = measurement_row(run_id_, ev, job->second, emulated);
      if (auto v = agent_versions_.find(ev.agent_id); v != agent_versions_.end())
        row.agent_version = v->second;
      if (!measurements_.record(row)) break;  // a duplicate: recorded once already
      ++recorded_;
      last_result_ = Clock::now();
      if (row.status == "ok") {
        ++ok_;
        if (log)
          std::fprintf(log, "hil-search: [%zu/%zu] %s on %s: %s%s\n", recorded_, total_,
                       ev.job_id.c_str(), log_safe(ev.agent_id, 64).c_str(),
                       log_safe(describe_result(row)).c_str(), eta().c_str());
      } else {
        ++failed_;
        if (log)
          std::fprintf(log, "hil-search: [%zu/%zu] %s on %s failed: [%s] %s\n", recorded_, total_,
                       ev.job_id.c_str(), ev.board.c_str(),
                       log_safe(row.error_class.value_or("?"), 32).c_str(),
                       log_safe(row.error.value_or("")).c_str());
      }
      rows.push_back(row);
      break;
    }
  }
}

}  // namespace hilq::host
