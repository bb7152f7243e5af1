// The QAT step of the search (see tiered.h, TieredSearch::train_front): the best of the front,
// and the near misses below it, trained with Squat and scored again as new candidates.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "model/sha256.h"
#include "search/pareto.h"
#include "search/tiered.h"

namespace hilq::search {

std::vector<const SearchCandidate*> TieredSearch::qat_targets(int top, double mu) const {
  // The front on (validation metric, memory), best trade-off first.
  std::vector<ParetoPoint> points;
  std::map<int64_t, const SearchCandidate*> by_id;
  for (const auto& c : candidates_)
    if (c.status != "reference" && c.tier != "qat" && c.feasible()) {
      points.push_back({c.id, front_objectives(c), {}});
      by_id[c.id] = &c;
    }
  std::vector<std::pair<double, const SearchCandidate*>> front;
  for (const int64_t id : pareto_front(points)) {
    const SearchCandidate* c = by_id.at(id);
    const bool acc = scorer_.higher_is_better();
    PickCandidate p{c->id, acc ? c->validation / float_metric_ : float_metric_ / c->validation,
                    static_cast<double>(c->packed.memory_bytes) / static_cast<double>(float_bytes_),
                    static_cast<double>(c->packed.memory_bytes), front_objectives(*c)[0]};
    front.emplace_back(-tradeoff_score(p, mu), c);
  }
  std::sort(front.begin(), front.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second->id < b.second->id;
  });
  std::vector<const SearchCandidate*> out;
  for (const auto& [score, c] : front)
    if (static_cast<int>(out.size()) < top) out.push_back(c);
  // Near misses: within the memory budget and within twice the quality limit, smallest first,
  // smaller than every front member chosen (QAT may bring them under the limit at fewer bits).
  const double slack = 2 * allowed_change();
  std::vector<const SearchCandidate*> misses;
  for (const auto& c : candidates_) {
    if (c.status != "over-quality" || c.tier == "qat" || !c.memory_ok) continue;
    const double change = scorer_.higher_is_better() ? 100.0 * (float_metric_ - c.validation)
                                                     : c.validation / float_metric_ - 1;
    if (change <= slack) misses.push_back(&c);
  }
  std::sort(misses.begin(), misses.end(), [](const auto* a, const auto* b) {
    return a->packed.memory_bytes != b->packed.memory_bytes
               ? a->packed.memory_bytes < b->packed.memory_bytes
               : a->id < b->id;
  });
  for (const auto* c : misses)
    if (static_cast<int>(out.size()) < 2 * top) out.push_back(c);
  return out;
}

void TieredSearch::train_front(int top, const QatOptions& qat, double mu) {
  if (top <= 0) return;
  const auto targets = qat_targets(top, mu);
  const auto t0 = std::chrono::steady_clock::now();
  int done = 0;
  for (const SearchCandidate* parent : targets) {
    if (stopped()) return;
    if (options_.progress) {
      const double spent =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      char line[320];
      std::snprintf(line, sizeof(line), "[qat] %d/%zu: Squat QAT of %s (%d steps)%s", done + 1,
                    targets.size(), parent->label.c_str(), qat.steps,
                    done ? (", ETA " +
                            std::to_string(static_cast<int>(
                                spent / done * static_cast<double>(targets.size() - done))) +
                            " s")
                               .c_str()
                         : "");
      options_.progress(line);
    }
    QatOptions o = qat;
    if (!o.stop) o.stop = options_.stop;  // Ctrl-C stops a training mid-way, not after it
    const TrainedCandidate trained = scorer_.pack_trained(parent->spec, o);
    if (trained.stopped) return;
    SearchCandidate c;
    c.point = parent->point;
    c.spec = parent->spec;
    c.label = parent->label + " +QAT";
    c.tier = "qat";
    c.parent = parent->id;
    c.packed = trained.packed;
    const CandidateScore s = scorer_.score(c.spec, c.packed, "validation");
    c.validation = s.metric;
    c.output_kl = s.output_kl;
    c.quality_ok = meets_quality(s.metric);
    const auto& budget = options_.constraints.mem_budget_bytes;
    c.memory_ok = !budget || c.packed.memory_bytes <= *budget;
    c.status = !c.quality_ok ? "over-quality" : !c.memory_ok ? "over-budget" : "feasible";
    if (!c.quality_ok) {
      char why[160];
      std::snprintf(why, sizeof(why), "validation %s %.4f after QAT, limit %.4f",
                    scorer_.metric_name().c_str(), c.validation, metric_limit());
      c.reason = why;
    }
    const std::string hash = model::sha256_hex(c.spec.hash() + "+" + c.packed.variant);
    if (!by_hash_.contains(hash)) {
      const std::string config = c.spec.to_json();
      const SearchCandidate* recorded = record(std::move(c), config, hash);
      if (trained.engine_validation) engine_validation_[recorded->id] = *trained.engine_validation;
    }
    ++done;
  }
}

}  // namespace hilq::search
