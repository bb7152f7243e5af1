// measurements.csv (see csv_reporter.h).
#include "reports/csv_reporter.h"

#include <vector>

#include "reports/format.h"

namespace hilq::reports {

std::string csv_escape(const std::string& field) {
  if (field.find_first_of(",\"\n\r") == std::string::npos) return field;
  std::string out = "\"";
  for (char ch : field) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

void CsvReporter::report(const RunView& view, std::ostream& out) const {
  out << "run_id,board,agent,job_id,kind,kernel,status,error_class,error,latency_median_ns,"
         "latency_p10_ns,latency_p90_ns,latency_mad_ns,latency_mean_ns,repeats,peak_rss_bytes,"
         "model_bytes,energy_j,power_source,power_unavailable,emulated,config,metrics\n";
  for (const auto& m : view.measurements) {
    const std::vector<std::string> fields = {number_text(m.run_id),
                                             m.board,
                                             m.agent.value_or(""),
                                             m.job_id,
                                             m.kind,
                                             m.kernel.value_or(""),
                                             m.status,
                                             m.error_class.value_or(""),
                                             m.error.value_or(""),
                                             number_text(m.latency.median),
                                             number_text(m.latency.p10),
                                             number_text(m.latency.p90),
                                             number_text(m.latency.mad),
                                             number_text(m.latency.mean),
                                             number_text(m.latency.repeats),
                                             number_text(m.peak_rss_bytes),
                                             number_text(m.model_bytes),
                                             number_text(m.energy.joules),
                                             m.energy.source.value_or(""),
                                             m.energy.unavailable.value_or(""),
                                             m.emulated ? "1" : "0",
                                             m.stored.config_text,
                                             m.stored.metrics_text};
    for (size_t i = 0; i < fields.size(); ++i) out << (i ? "," : "") << csv_escape(fields[i]);
    out << "\n";
  }
}

}  // namespace hilq::reports
