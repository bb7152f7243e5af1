// QAT experiment results as rows: each finished (setting, method) of the experiment table is a
// candidate of a run whose task metrics are evaluations, and the Markdown table is generated back
// from those rows. Kept out of hilq_search (target hilq_search_qat): only this needs qat/.
#pragma once

#include <cstdint>
#include <string>

#include "db/database.h"
#include "qat/experiment.h"

namespace hilq::search {

// Stores one row: candidate {"setting", "method", "seed"} of the run (by its canonical config
// hash) and its evaluations: LM validation and test perplexity, or classifier test and dev
// accuracy, plus the train split's qat_tokens_per_s and seconds. Returns the candidate id; storing
// a row again updates it.
int64_t record_experiment_row(db::Database& db, int64_t run_id, qat::Task task,
                              const qat::ExperimentRow& row);

// A sink for qat::ExperimentRequest::sink that records each row as it finishes.
qat::ExperimentSink evaluations_sink(db::Database& db, int64_t run_id, qat::Task task);

// Every row of a run's experiment, one line per (setting, method, seed), from the rows.
std::string experiment_markdown(db::Database& db, int64_t run_id, qat::Task task);

}  // namespace hilq::search
