// pareto.csv and pareto.json (see pareto_reporter.h): one BoardRow, two formats.
#include "reports/pareto_reporter.h"

#include <nlohmann/json.hpp>
#include <vector>

#include "reports/board_rows.h"
#include "reports/csv_reporter.h"
#include "reports/format.h"
#include "reports/progress.h"

namespace hilq::reports {
namespace {

using nlohmann::json;

template <typename T>
json or_null(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

std::string joined(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

// The row's fields in column order: the CSV's columns and the JSON's keys.
std::vector<std::pair<const char*, json>> fields(const RunView& view, const BoardSearch& board,
                                                 const BoardRow& r) {
  const Candidate& c = *r.candidate;
  const Measurement* m = r.measurement;
  auto measured = [&](auto get) -> json { return m ? or_null(get(*m)) : json(nullptr); };
  return {
      {"board", board.board},
      {"emulated", board.emulated},
      {"candidate_id", c.id},
      {"label", c.label},
      {"tier", c.tier},
      {"status", c.status},
      {"baseline", r.baseline},
      {"pick", r.pick},
      {"fronts", joined(r.fronts, ";")},
      {"metric", view.search->constraints.metric},
      {"validation", or_null(c.validation)},
      {"test", or_null(c.test)},
      {"decode_ms_median", measured([](const Measurement& x) { return x.model.decode_median_ms; })},
      {"decode_ms_p90", measured([](const Measurement& x) { return x.model.decode_p90_ms; })},
      {"prefill_ms", measured([](const Measurement& x) { return x.model.prefill_ms; })},
      {"tokens_per_s", measured([](const Measurement& x) { return x.model.tokens_per_s; })},
      {"memory_bytes", or_null(c.memory_bytes)},
      {"energy_per_token_j",
       measured([](const Measurement& x) { return x.model.energy_per_token_j; })},
      {"energy_unavailable", m && !m->model.energy_per_token_j
                                 ? json(m->energy.unavailable.value_or(""))
                                 : json(nullptr)},
      {"kernel", measured([](const Measurement& x) { return x.kernel; })},
      {"speedup_over_fp16", or_null(r.speedup_over_fp16)},
      {"job_id", m ? json(m->job_id) : json(nullptr)},
      {"config_hash", c.config_hash},
  };
}

std::string csv_text(const json& v) {
  if (v.is_null()) return "";
  if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return number_text(v.get<int64_t>());
  if (v.is_number()) return number_text(v.get<double>());
  return v.dump();
}

}  // namespace

void ParetoCsvReporter::report(const RunView& view, std::ostream& out) const {
  if (!view.search) return;
  bool header = false;
  for (const auto& board : view.search->boards)
    for (const BoardRow& r : board_rows(view, board)) {
      const auto f = fields(view, board, r);
      if (!header) {
        out << "run_id";
        for (const auto& [key, v] : f) out << "," << key;
        out << "\n";
        header = true;
      }
      out << view.run.id;
      for (const auto& [key, v] : f) out << "," << csv_escape(csv_text(v));
      out << "\n";
    }
  if (!header) out << "run_id\n";
}

void ParetoJsonReporter::report(const RunView& view, std::ostream& out) const {
  if (!view.search) return;
  const SearchView& s = *view.search;
  json boards = json::array();
  for (const auto& board : s.boards) {
    json rows = json::array();
    for (const BoardRow& r : board_rows(view, board)) {
      json row = json::object();
      for (auto& [key, v] : fields(view, board, r)) row[key] = std::move(v);
      rows.push_back(std::move(row));
    }
    const BoardEnergy e = board_energy(view, board.board);
    json pick = nullptr;
    if (board.pick)
      pick = {{"rule", board.pick->rule},
              {"candidate_id", board.pick->candidate_id},
              {"score", or_null(board.pick->score)}};
    boards.push_back({{"board", board.board},
                      {"emulated", board.emulated},
                      {"pick", pick},
                      {"energy",
                       {{"measurements", e.rows},
                        {"measured", e.measured},
                        {"unavailable_reason", e.reason.empty() ? json(nullptr) : json(e.reason)}}},
                      {"rows", rows}});
  }
  json runs = json::array();
  for (const auto& t : s.traces) {
    json points = json::array();
    for (const auto& p : progress_of(t, s.constraints))
      points.push_back({{"evaluations", p.evaluations},
                        {"best", or_null(p.best)},
                        {"hypervolume", p.hypervolume}});
    runs.push_back({{"run_id", t.run_id},
                    {"strategy", t.strategy},
                    {"seed", or_null(t.seed)},
                    {"this_run", t.run_id == view.run.id},
                    {"points", points}});
  }
  const auto reference = progress_reference(s.constraints);
  json progress = {
      {"objectives",
       {s.constraints.higher_is_better() ? "error" : s.constraints.metric, "memory_mb"}},
      {"reference_point", reference ? json(*reference) : json(nullptr)},
      {"runs", runs}};
  out << json({{"run_id", view.run.id},
               {"metric", s.constraints.metric},
               {"boards", boards},
               {"progress", progress}})
             .dump(2)
      << "\n";
}

}  // namespace hilq::reports
