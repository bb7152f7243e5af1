// Turning broker events into database rows: a RESULT's measurement JSON (or a final ERROR) into
// a MeasurementRow, with energy and temperature taken from the agent's power/thermal readings.
#pragma once

#include <cstdint>
#include <string>

#include "protocol/message.h"
#include "db/run_store.h"
#include "host/broker.h"

namespace hilq::host {

db::MeasurementRow measurement_row(int64_t run_id, const BrokerEvent& ev, const protocol::Job& job,
                                   bool emulated);

// One line for the progress output: the model label with prefill and decode latency for
// model-bench results, the kernel and median latency for the others.
std::string describe_result(const BrokerEvent& ev, const db::MeasurementRow& row);

// A job as stored in the jobs table's spec column, and back (--resume).
std::string job_spec(const protocol::Job& job);
protocol::Job job_from_spec(const std::string& spec);  // throws ProtocolError

}  // namespace hilq::host
