// measurements.csv and candidates.csv (see csv_reporter.h).
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

void CandidatesCsvReporter::report(const RunView& view, std::ostream& out) const {
  if (!view.search) return;
  const SearchView& s = *view.search;
  out << "run_id,candidate_id,label,tier,parent_id,status,reason,config_hash,memory_bytes,metric,"
         "validation,test,board,emulated,measurement_status,job_id,decode_ms_median,"
         "decode_ms_p90,prefill_ms,model_bytes,peak_rss_bytes,energy_per_token_j,"
         "power_unavailable,fronts,pick_rule,pick_score,config\n";
  auto write = [&](const Candidate& c, const Measurement* m) {
    const BoardSearch* board = nullptr;
    for (const auto& b : s.boards)
      if (m && b.board == m->board) board = &b;
    std::string fronts;
    if (board)
      for (const auto& [pair, ids] : board->fronts)
        if (board->on_front(pair, c.id)) fronts += (fronts.empty() ? "" : ";") + pair;
    const bool picked = board && board->pick && board->pick->candidate_id == c.id;
    const std::vector<std::string> fields = {number_text(view.run.id),
                                             number_text(c.id),
                                             c.label,
                                             c.tier,
                                             number_text(c.parent_id),
                                             c.status,
                                             c.reason.value_or(""),
                                             c.config_hash,
                                             number_text(c.memory_bytes),
                                             s.constraints.metric,
                                             number_text(c.validation),
                                             number_text(c.test),
                                             m ? m->board : "",
                                             m ? (m->emulated ? "1" : "0") : "",
                                             m ? m->status : "",
                                             m ? m->job_id : "",
                                             m ? number_text(m->model.decode_median_ms) : "",
                                             m ? number_text(m->model.decode_p90_ms) : "",
                                             m ? number_text(m->model.prefill_ms) : "",
                                             m ? number_text(m->model_bytes) : "",
                                             m ? number_text(m->peak_rss_bytes) : "",
                                             m ? number_text(m->model.energy_per_token_j) : "",
                                             m ? m->energy.unavailable.value_or("") : "",
                                             fronts,
                                             picked ? board->pick->rule : "",
                                             picked ? number_text(board->pick->score) : "",
                                             c.config_text};
    for (size_t i = 0; i < fields.size(); ++i) out << (i ? "," : "") << csv_escape(fields[i]);
    out << "\n";
  };
  for (const auto& c : s.candidates) {
    const auto rows = view.candidate_measurements(c.id);
    if (rows.empty()) write(c, nullptr);
    for (const Measurement* m : rows) write(c, m);
  }
}

}  // namespace hilq::reports
