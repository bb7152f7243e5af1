// Turning broker events into database rows: a RESULT's measurement decoded once into its typed
// result (protocol/jobs.h) and then its columns, or a final ERROR into a failed row.
#pragma once

#include <cstdint>
#include <string>

#include "db/run_store.h"
#include "host/broker.h"
#include "protocol/jobs.h"
#include "protocol/message.h"

namespace hilq::host {

db::MeasurementRow measurement_row(int64_t run_id, const BrokerEvent& ev, const protocol::Job& job,
                                   bool emulated);

// One line for the progress output: the model label with prefill and decode latency for
// model-bench results, the kernel and median latency for the others.
std::string describe_result(const db::MeasurementRow& row);

// A job as stored in the jobs table's spec column (without the config, which is the config
// column), and back (--resume) from both.
std::string job_spec(const protocol::Job& job);
protocol::Job job_from_spec(const std::string& spec, const std::string& config);  // ProtocolError

}  // namespace hilq::host
