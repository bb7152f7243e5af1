// Front refinement, the tiered search's last tier (see tiered.h): the budget the greedy tiers
// leave is spent where the (validation metric, memory) front gains most.
//
// Each round predicts the metric of every neighbour of every front member (one unit a width up
// or down, a whole block a width down, or a trade inside a block: one unit down, another up)
// from the sensitivity table, scaled by how well the table predicted the candidates scored so
// far. The neighbour whose optimistic prediction (one residual spread better than the estimate)
// adds the most hypervolume is scored next. It stops when no neighbour could add any, or at the
// budget.
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "model/sha256.h"
#include "search/hypervolume.h"
#include "search/pareto.h"
#include "search/tiered.h"

namespace hilq::search {
namespace {

std::string weight_setting(int w_bits) { return "W" + std::to_string(w_bits); }

// The hypervolume a 2-objective set gains from q (0 when q lies outside the reference).
double hv_gain(const std::vector<std::vector<double>>& front, double front_hv,
               const std::vector<double>& q, const std::vector<double>& ref) {
  if (!(q[0] < ref[0] && q[1] < ref[1])) return 0;
  auto with = front;
  with.push_back(q);
  return hypervolume(with, ref) - front_hv;
}

}  // namespace

// The metric in which units' effects add up: log perplexity, or the error 1 - accuracy.
double TieredSearch::additive_metric(double metric) const {
  return scorer_.higher_is_better() ? 1.0 - metric : std::log(metric);
}

double TieredSearch::from_additive(double value) const {
  return scorer_.higher_is_better() ? 1.0 - value : std::exp(value);
}

// A unit's own effect at a width, in additive_metric's terms, from the sensitivity table.
double TieredSearch::unit_effect(const std::string& unit, int w_bits) const {
  const double change = sens_change(unit, weight_setting(w_bits));
  return scorer_.higher_is_better() ? change / 100.0 : std::log(std::max(1e-6, 1.0 + change));
}

std::vector<double> TieredSearch::front_objectives(const SearchCandidate& c) const {
  return {scorer_.higher_is_better() ? 1.0 - c.validation : c.validation,
          static_cast<double>(c.packed.memory_bytes)};
}

std::vector<double> TieredSearch::front_reference() const {
  const double metric =
      scorer_.higher_is_better() ? 1.0 - metric_limit() : metric_limit();  // minimised
  const auto& budget = options_.constraints.mem_budget_bytes;
  const auto memory = static_cast<double>(budget ? *budget : float_bytes_);
  return {metric * (1 + 1e-9), memory * (1 + 1e-9)};
}

std::string TieredSearch::config_hash(const Point& p) const {
  if (!unrepresentable_reason(p).empty()) {
    nlohmann::json acts = nlohmann::json::array();
    for (const ActMode m : p.act) acts.push_back(act_mode_name(m));
    return model::sha256_hex(nlohmann::json{{"w_bits", p.w_bits}, {"act", acts}}.dump());
  }
  return to_spec(space_, p).hash();
}

void TieredSearch::refine_front() {
  const auto ref = front_reference();
  const auto& units = model::unit_names(space_.n_layers);
  auto predicted_delta = [&](const Point& from, const Point& to) {
    double d = 0;
    for (const auto& u : units) {
      const int a = from.w_bits.at(u), b = to.w_bits.at(u);
      if (a != b) d += unit_effect(u, b) - unit_effect(u, a);
    }
    return d;
  };
  while (!stopped() && !exhausted()) {
    // How well the table predicts: least squares through the origin of the observed change
    // against the table's sum, over every scored candidate with a scored parent of the same
    // activation modes; the residuals' spread is the optimism.
    double sxy = 0, sxx = 0;
    std::vector<std::pair<double, double>> pairs;  // observed, table
    std::map<int64_t, const SearchCandidate*> by_id;
    for (const auto& c : candidates_) by_id[c.id] = &c;
    for (const auto& c : candidates_) {
      if (std::isnan(c.validation) || c.status == "reference" || !c.parent) continue;
      const auto it = by_id.find(*c.parent);
      if (it == by_id.end()) continue;
      const SearchCandidate& p = *it->second;
      if (std::isnan(p.validation) || p.status == "reference" || p.point.act != c.point.act)
        continue;
      const double x = predicted_delta(p.point, c.point);
      const double y = additive_metric(c.validation) - additive_metric(p.validation);
      pairs.emplace_back(y, x);
      sxy += x * y, sxx += x * x;
    }
    const double scale = pairs.size() >= 3 && sxx > 0 ? std::clamp(sxy / sxx, 0.25, 4.0) : 1.0;
    double sq = 0;
    for (const auto& [y, x] : pairs) sq += (y - scale * x) * (y - scale * x);
    const double spread = pairs.size() >= 3 ? std::sqrt(sq / static_cast<double>(pairs.size())) : 0;

    // The current front.
    std::vector<ParetoPoint> feasible_points;
    std::map<int64_t, const SearchCandidate*> members;
    for (const auto& c : candidates_)
      if (c.status != "reference" && c.feasible()) {
        feasible_points.push_back({c.id, front_objectives(c), {}});
        members[c.id] = &c;
      }
    std::vector<std::vector<double>> front;
    std::vector<const SearchCandidate*> front_members;
    for (const int64_t id : pareto_front(feasible_points)) {
      front_members.push_back(members.at(id));
      front.push_back(front_objectives(*members.at(id)));
    }
    const double front_hv = front.empty() ? 0.0 : hypervolume(front, ref);

    // The neighbour of a front member with the largest optimistic gain.
    double best_gain = 0;
    Move best;
    std::optional<int64_t> best_parent;
    auto consider = [&](const SearchCandidate& from, Point to,
                        std::vector<std::pair<std::string, std::string>> changes) {
      int64_t bytes = 0;
      for (const auto& u : units) bytes += unit_bytes(u, to.w_bits.at(u));
      const double metric = from_additive(additive_metric(from.validation) +
                                          scale * predicted_delta(from.point, to) - spread);
      const std::vector<double> q = {scorer_.higher_is_better() ? 1.0 - metric : metric,
                                     static_cast<double>(bytes)};
      const double gain = hv_gain(front, front_hv, q, ref);
      // Hashing a point costs more than predicting it: only for a new best.
      if (gain > best_gain && !by_hash_.contains(config_hash(to))) {
        best_gain = gain;
        best.point = std::move(to);
        best.changes = std::move(changes);
        best_parent = from.id;
      }
    };
    for (const SearchCandidate* f : front_members) {
      const Point& p = f->point;
      for (const auto& u : units) {
        const int w = p.w_bits.at(u);
        for (const auto nw : {lower_width(w), higher_width(w)}) {
          if (!nw) continue;
          Point to = p;
          to.w_bits[u] = *nw;
          consider(*f, std::move(to), {{u, weight_setting(*nw)}});
        }
      }
      for (const auto& b : blocks(space_.n_layers)) {
        const auto bu = block_units(b, space_.n_layers);
        Point down = p;
        std::vector<std::pair<std::string, std::string>> changes;
        for (const auto& u : bu)
          if (const auto lw = lower_width(p.w_bits.at(u))) {
            down.w_bits[u] = *lw;
            changes.emplace_back(u, weight_setting(*lw));
          }
        if (!changes.empty()) consider(*f, std::move(down), std::move(changes));
        for (const auto& u : bu)
          for (const auto& r : bu) {
            const auto lw = lower_width(p.w_bits.at(u));
            const auto hr = higher_width(p.w_bits.at(r));
            if (u == r || !lw || !hr) continue;
            Point to = p;
            to.w_bits[u] = *lw;
            to.w_bits[r] = *hr;
            consider(*f, std::move(to), {{u, weight_setting(*lw)}});
          }
      }
    }
    // Converged: nothing within reach adds a measurable area (one millionth of the box).
    if (!best_parent || best_gain <= 1e-6 * ref[0] * ref[1]) break;
    evaluate(best.point, "front", best_parent, prune_reason(best));
  }
}

}  // namespace hilq::search
