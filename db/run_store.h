// Typed access to runs, boards, jobs and agents (measurements: db/measurement_store.h). Each
// write is one transaction, or a savepoint inside the caller's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "db/database.h"
#include "db/measurement_store.h"

namespace hilq::db {

struct RunRow {
  int64_t id = 0;
  std::string command_line;
  std::optional<std::string> git_sha;
  std::optional<std::string> model_hash;
  std::string constraints = "{}";
  std::string status = "running";  // running | completed | interrupted | failed
  std::optional<std::string> message;
  std::string started_at;
  std::optional<std::string> finished_at;
  std::string options = "{}";  // JSON: what --resume needs to continue the run (boards, workload)
};

struct BoardRow {
  std::string name;
  std::string arch;
  std::string features;  // JSON array of detected feature names
  int cores = 0;
  int64_t memory_bytes = 0;
  std::string agent_version;
  bool emulated = false;
};

struct JobRow {
  std::string id;
  int64_t run_id = 0;
  std::optional<int64_t> candidate_id;
  std::string board;
  std::string kind;
  std::string config;            // JSON
  std::string state = "queued";  // queued | running | done | failed
  int attempts = 0;              // dispatches so far, across host restarts
  std::optional<std::string> agent;
  std::optional<std::string> spec;         // JSON of the JOB message, to re-send it on --resume
  std::optional<std::string> lease_until;  // while running: end of the run-time lease
  std::optional<std::string> error_class;  // why the last try failed
  std::optional<std::string> error;
};

struct AgentRow {
  int64_t run_id = 0;
  std::string id;
  std::string board;
  std::optional<std::string> user_id;  // CURVE allow-list name
  std::string status = "connected";    // connected | lost | left | quarantined
  std::optional<std::string> reason;
};

class RunStore {
 public:
  explicit RunStore(Database& db) : db_(db) {}

  int64_t create_run(const std::string& command_line, const std::optional<std::string>& git_sha,
                     const std::string& constraints_json = "{}",
                     const std::string& options_json = "{}");
  // Ends a run. Unless it completed, its running jobs go back to 'queued' (their leases end with
  // this host), so `--resume` finds every unfinished job.

  void finish_run(int64_t run_id, const std::string& status,
                  const std::optional<std::string>& message = std::nullopt);
  // Marks a run running again for --resume; running jobs (orphaned by a dead host) -> queued.
  void reopen_run(int64_t run_id);
  // Runs left 'running' by a host that is gone (killed, or its final write failed): a run is
  // taken for abandoned when nothing of it moved for longer than `lease_s` (the job lease) —
  // neither its start nor any job's update or lease end. A live host touches a job row at every
  // dispatch, result and re-queue, and a job that runs past its lease is timed out and touched,
  // so a live run idles that long only in a long host phase (a search's sensitivity pass); its
  // host's own finish_run() writes the final status over 'interrupted' then. Each abandoned run
  // (but `except`, e.g. the run being resumed) becomes 'interrupted' with a message saying why,
  // its running jobs 'queued'. Returns the runs it marked.
  std::vector<int64_t> interrupt_abandoned_runs(double lease_s, std::optional<int64_t> except = {});
  // The sha256 of the model a run measures (the artifact file as the host hashed it).
  void set_model_hash(int64_t run_id, const std::string& sha256);
  std::optional<RunRow> run(int64_t run_id);
  std::optional<int64_t> latest_run_id();
  std::vector<RunRow> runs();

  void upsert_board(const BoardRow& board);
  std::optional<BoardRow> board(const std::string& name);

  void insert_job(const JobRow& job);
  void set_job_state(const std::string& job_id, const std::string& state,
                     const std::optional<std::string>& agent = std::nullopt);
  std::vector<JobRow> jobs(int64_t run_id);
  // Durable queue transitions (each its own BEGIN IMMEDIATE transaction, or part of the caller's).
  void job_started(const std::string& job_id, const std::string& agent,
                   const std::string& lease_until);
  void job_requeued(const std::string& job_id, const std::string& error_class,
                    const std::string& error);
  // Jobs of a run without a final state (queued or running), in creation order.
  std::vector<JobRow> unfinished_jobs(int64_t run_id);

  void upsert_agent(const AgentRow& agent);
  std::vector<AgentRow> agents(int64_t run_id);
  // At the end of a run (the host said BYE to all): every agent still 'connected' becomes 'left'
  // with `reason`; lost and quarantined agents keep their status. Returns how many changed.
  int agents_left(int64_t run_id, const std::string& reason);

  // MeasurementStore's record() and of_run(), for callers that hold a RunStore.
  bool record_measurement(const MeasurementRow& row) { return MeasurementStore(db_).record(row); }
  std::vector<MeasurementRow> measurements(int64_t run_id) {
    return MeasurementStore(db_).of_run(run_id);
  }

 private:
  Database& db_;
};

}  // namespace hilq::db
