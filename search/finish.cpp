// Fronts, picks, test scores and the export (see finish.h).
#include "search/finish.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "base/error.h"
#include "db/evaluation_store.h"
#include "db/search_store.h"
#include "search/pareto.h"

namespace hilq::search {
namespace {

namespace fs = std::filesystem;

const SearchCandidate* reference(const TieredSearch& search, const std::string& label) {
  for (const auto& c : search.candidates())
    if (c.status == "reference" && c.label == label) return &c;
  return nullptr;
}

}  // namespace

SearchOutcome finish_search(const TieredSearch& search, HostScorer& scorer, db::Database& db,
                            int64_t run_id, const FinishOptions& options) {
  db::SearchStore store(db);
  db::EvaluationStore evals(db);
  SearchOutcome out;
  std::map<int64_t, const SearchCandidate*> by_id;
  for (const auto& c : search.candidates()) by_id[c.id] = &c;
  std::set<int64_t> to_test;
  // Fronts minimise: perplexity as it is, accuracy as the error 1 - accuracy.
  const bool accuracy = scorer.higher_is_better();
  auto objective = [&](double metric) { return accuracy ? 1.0 - metric : metric; };
  for (const auto& board : options.boards) {
    BoardOutcome bo;
    bo.board = board;
    auto measured = [&](const SearchCandidate& c) { return store.measured(run_id, c.id, board); };
    for (const char* ref : {"FP16", "FP32"})
      if (const SearchCandidate* r = reference(search, ref))
        if (const auto m = store.measured(run_id, r->id, board)) {
          (std::string(ref) == "FP16" ? bo.fp16_decode_ms : bo.fp32_decode_ms) =
              m->decode_ms_median;
          bo.emulated = m->emulated;
        }
    std::vector<ParetoPoint> latency, memory, energy;
    std::vector<PickCandidate> pickable;
    std::string no_energy;
    for (const auto& c : search.candidates()) {
      if (c.status == "reference" || c.status == "pruned" || !c.quality_ok) continue;
      const auto m = measured(c);
      if (!m) continue;
      bo.emulated = m->emulated;
      if (m->model_bytes && *m->model_bytes != c.packed.memory_bytes)
        out.memory_mismatches.push_back(c.label + " on " + board + ": host " +
                                        std::to_string(c.packed.memory_bytes) + " bytes, agent " +
                                        std::to_string(*m->model_bytes));
      if (!c.feasible()) continue;  // over the memory budget: measured, never in a front
      ++bo.measured;
      const double q = objective(c.validation);
      latency.push_back({c.id, {q, m->decode_ms_median}, {}});
      memory.push_back({c.id, {q, static_cast<double>(c.packed.memory_bytes)}, {}});
      if (m->energy_per_token_j)
        energy.push_back({c.id, {q, *m->energy_per_token_j}, {}});
      else if (no_energy.empty())
        no_energy = m->power_unavailable.value_or("no energy reported");
      pickable.push_back(
          {c.id,
           accuracy ? c.validation / search.float_metric() : search.float_metric() / c.validation,
           static_cast<double>(c.packed.memory_bytes) / static_cast<double>(search.float_bytes()),
           static_cast<double>(c.packed.memory_bytes), q});
    }
    bo.latency_front = pareto_front(latency);
    bo.memory_front = pareto_front(memory);
    bo.energy_front = pareto_front(energy);
    if (energy.empty()) bo.energy_note = no_energy.empty() ? "nothing measured" : no_energy;
    store.set_front(run_id, board, "metric-latency", bo.latency_front);
    store.set_front(run_id, board, "metric-memory", bo.memory_front);
    store.set_front(run_id, board, "metric-energy", bo.energy_front);
    for (const auto* front : {&bo.latency_front, &bo.memory_front, &bo.energy_front})
      to_test.insert(front->begin(), front->end());
    const bool lexicographic = options.pick == "lexicographic";
    bo.pick = lexicographic ? pick_lexicographic(pickable) : pick_tradeoff(pickable, options.mu);
    if (bo.pick) {
      const SearchCandidate& c = *by_id.at(*bo.pick);
      for (const auto& p : pickable)
        if (p.id == c.id)
          bo.pick_score = lexicographic ? p.memory_bytes : tradeoff_score(p, options.mu);
      char rule[48];
      std::snprintf(rule, sizeof(rule), "tradeoff mu=%g", options.mu);
      store.set_pick({run_id, board, lexicographic ? "lexicographic" : rule, c.id, bo.pick_score});
      bo.pick_label = c.label;
      bo.pick_validation = c.validation;
      bo.pick_memory = c.packed.memory_bytes;
      if (const auto m = measured(c)) bo.pick_decode_ms = m->decode_ms_median;
      to_test.insert(c.id);
    }
    out.boards.push_back(std::move(bo));
  }
  // Test: the front members and picks only, each once.
  std::map<int64_t, double> test;
  for (const int64_t id : to_test) {
    const SearchCandidate& c = *by_id.at(id);
    const CandidateScore s = scorer.score(c.spec, c.packed, "test");
    evals.record({c.id, "test", scorer.metric_name(), s.metric});
    test[id] = s.metric;
    ++out.test_scorings;
  }
  if (const SearchCandidate* fp = reference(search, "FP32")) {
    const double fp_test = scorer.float_metric("test");
    evals.record({fp->id, "test", scorer.metric_name(), fp_test});
  }
  // Export: one file when every board picked the same candidate, else one per board.
  std::set<int64_t> picks;
  for (auto& bo : out.boards)
    if (bo.pick) {
      picks.insert(*bo.pick);
      bo.pick_test = test.at(*bo.pick);
    }
  fs::create_directories(options.out_dir);
  for (const auto& bo : out.boards) {
    if (!bo.pick) continue;
    const std::string stem = picks.size() == 1 ? "pick" : "pick-" + bo.board;
    const fs::path model = fs::path(options.out_dir) / (stem + ".safetensors");
    if (std::find(out.exported.begin(), out.exported.end(), model.string()) != out.exported.end())
      continue;
    const SearchCandidate& c = *by_id.at(*bo.pick);
    fs::copy_file(c.packed.path, model, fs::copy_options::overwrite_existing);
    const fs::path config = fs::path(options.out_dir) / (stem + ".quant.json");
    std::ofstream(config) << c.spec.to_json() << "\n";
    out.exported.push_back(model.string());
    out.exported.push_back(config.string());
  }
  return out;
}

}  // namespace hilq::search
