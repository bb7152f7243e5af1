// Candidates and evaluations (see evaluation_store.h).
#include "db/evaluation_store.h"

namespace hilq::db {

int64_t EvaluationStore::candidate(int64_t run_id, const std::string& config,
                                   const std::string& config_hash,
                                   const std::optional<std::string>& tier,
                                   const std::optional<int64_t>& parent_id) {
  Transaction tx(db_);
  Statement insert(db_,
                   "INSERT INTO candidates (run_id, config, config_hash, tier, parent_id) "
                   "VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, config_hash) DO NOTHING");
  insert.bind_all(run_id, config, config_hash, tier, parent_id).run();
  Statement find(db_, "SELECT id FROM candidates WHERE run_id = ? AND config_hash = ?");
  find.bind_all(run_id, config_hash);
  if (!find.step())
    throw DbError("candidate " + config_hash + " of run " + std::to_string(run_id) +
                  " vanished after its insert");
  const int64_t id = find.column_int(0);
  tx.commit();
  return id;
}

std::vector<CandidateRow> EvaluationStore::candidates(int64_t run_id) {
  Statement s(db_,
              "SELECT id, run_id, config, config_hash, tier, parent_id FROM candidates "
              "WHERE run_id = ? ORDER BY id");
  s.bind(1, run_id);
  std::vector<CandidateRow> out;
  while (s.step())
    out.push_back({s.column_int(0), s.column_int(1), s.column_text(2), s.column_text(3),
                   s.column_optional_text(4), s.column_optional_int(5)});
  return out;
}

void EvaluationStore::record(const EvaluationRow& e) {
  Transaction tx(db_);
  Statement s(db_,
              "INSERT INTO evaluations (candidate_id, split, metric, value) VALUES (?, ?, ?, ?) "
              "ON CONFLICT (candidate_id, split, metric) DO UPDATE SET value = excluded.value");
  s.bind_all(e.candidate_id, e.split, e.metric, e.value).run();
  tx.commit();
}

std::vector<EvaluationRow> EvaluationStore::evaluations(int64_t candidate_id) {
  Statement s(db_,
              "SELECT candidate_id, split, metric, value FROM evaluations WHERE candidate_id = ? "
              "ORDER BY id");
  s.bind(1, candidate_id);
  std::vector<EvaluationRow> out;
  while (s.step())
    out.push_back({s.column_int(0), s.column_text(1), s.column_text(2), s.column_double(3)});
  return out;
}

}  // namespace hilq::db
