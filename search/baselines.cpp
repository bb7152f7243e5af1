// The baselines of the tiered search over the same space, scoring and records: uniform random
// search and NSGA-II (see tiered.h). Both are seeded and deterministic.
#include <algorithm>
#include <limits>
#include <numeric>

#include "search/pareto.h"
#include "search/tiered.h"

namespace hilq::search {
namespace {

// The genes of a point: every unit's width (canonical unit order), then every block's mode.
struct Genome {
  std::vector<std::string> units;
  int layers = 0;
  size_t size() const { return units.size() + static_cast<size_t>(layers); }
};

constexpr ActMode kModes[] = {ActMode::kA8, ActMode::kTa, ActMode::kA4};

void randomize_gene(const Genome& g, Point& p, size_t gene, SplitMix64& rng) {
  if (gene < g.units.size()) {
    p.w_bits[g.units[gene]] = weight_ladder()[rng.below(weight_ladder().size())];
  } else {
    p.act[gene - g.units.size()] = kModes[rng.below(3)];
  }
}

// A representable point: a mix of TA8/4 and plain A4 blocks becomes all TA8/4 (the one policy).
void repair(Point& p) {
  if (unrepresentable_reason(p).empty()) return;
  for (ActMode& m : p.act)
    if (m == ActMode::kA4) m = ActMode::kTa;
}

void swap_gene(const Genome& g, Point& a, Point& b, size_t gene) {
  if (gene < g.units.size())
    std::swap(a.w_bits[g.units[gene]], b.w_bits[g.units[gene]]);
  else
    std::swap(a.act[gene - g.units.size()], b.act[gene - g.units.size()]);
}

}  // namespace

void TieredSearch::random_search() {
  SplitMix64 rng(options_.seed);
  for (int i = 0; i < options_.budget && !stopped(); ++i)
    evaluate(random_point(space_, rng), "random", std::nullopt);
}

void TieredSearch::nsga2_search() {
  SplitMix64 rng(options_.seed);
  const Genome g{model::unit_names(space_.n_layers), space_.n_layers};
  const double mutation = options_.mutation.value_or(1.0 / static_cast<double>(g.size()));
  const auto& budget_bytes = options_.constraints.mem_budget_bytes;
  int proposals = 0;
  auto done = [&] { return proposals >= options_.budget || stopped(); };
  struct Member {
    Point point;
    const SearchCandidate* candidate = nullptr;
  };
  // Objectives (metric as minimised, memory) and violations (quality, memory; relative).
  auto pareto_point = [&](const Member& m, int64_t index) {
    const SearchCandidate& c = *m.candidate;
    const bool acc = scorer_.higher_is_better();
    ParetoPoint p{
        index,
        {acc ? 1.0 - c.validation : c.validation, static_cast<double>(c.packed.memory_bytes)},
        {}};
    p.violations.push_back(acc ? (metric_limit() - c.validation) / metric_limit()
                               : (c.validation - metric_limit()) / metric_limit());
    p.violations.push_back(budget_bytes
                               ? static_cast<double>(c.packed.memory_bytes - *budget_bytes) /
                                     static_cast<double>(*budget_bytes)
                               : 0.0);
    return p;
  };
  auto evaluated = [&](Point p, std::optional<int64_t> parent) {
    repair(p);
    ++proposals;
    return Member{p, &evaluate(p, "nsga2", parent)};
  };

  std::vector<Member> population;
  while (static_cast<int>(population.size()) < options_.population && !done()) {
    Point p = uniform_point(space_, 8, ActMode::kA8);
    for (size_t gene = 0; gene < g.size(); ++gene) randomize_gene(g, p, gene, rng);
    population.push_back(evaluated(p, std::nullopt));
  }
  // Rank and crowding of a set of members (index-aligned).
  auto rank_and_crowd = [&](const std::vector<Member>& set, std::vector<int>& rank,
                            std::vector<double>& crowd) {
    std::vector<ParetoPoint> pts;
    for (size_t i = 0; i < set.size(); ++i)
      pts.push_back(pareto_point(set[i], static_cast<int64_t>(i)));
    rank = nondominated_ranks(pts);
    crowd.assign(set.size(), 0.0);
    const int fronts = rank.empty() ? 0 : *std::max_element(rank.begin(), rank.end()) + 1;
    for (int f = 0; f < fronts; ++f) {
      std::vector<size_t> members;
      std::vector<std::vector<double>> obj;
      for (size_t i = 0; i < set.size(); ++i)
        if (rank[i] == f) members.push_back(i), obj.push_back(pts[i].objectives);
      const auto d = crowding_distance(obj);
      for (size_t j = 0; j < members.size(); ++j) crowd[members[j]] = d[j];
    }
  };
  std::vector<int> rank;
  std::vector<double> crowd;
  while (!done() && !population.empty()) {
    rank_and_crowd(population, rank, crowd);
    auto tournament = [&]() -> const Member& {
      const size_t a = rng.below(population.size()), b = rng.below(population.size());
      if (rank[a] != rank[b]) return population[rank[a] < rank[b] ? a : b];
      if (crowd[a] != crowd[b]) return population[crowd[a] > crowd[b] ? a : b];
      return population[std::min(a, b)];
    };
    std::vector<Member> offspring;
    while (static_cast<int>(offspring.size()) < options_.population && !done()) {
      const Member& pa = tournament();
      const Member& pb = tournament();
      Point a = pa.point, b = pb.point;
      if (rng.uniform() < options_.crossover)
        for (size_t gene = 0; gene < g.size(); ++gene)
          if (rng.uniform() < 0.5) swap_gene(g, a, b, gene);
      for (Point* child : {&a, &b}) {
        for (size_t gene = 0; gene < g.size(); ++gene)
          if (rng.uniform() < mutation) randomize_gene(g, *child, gene, rng);
      }
      offspring.push_back(evaluated(a, pa.candidate->id));
      if (static_cast<int>(offspring.size()) < options_.population && !done())
        offspring.push_back(evaluated(b, pb.candidate->id));
    }
    // Survival: the best population-size of parents + offspring by rank, then crowding.
    std::vector<Member> merged = population;
    merged.insert(merged.end(), offspring.begin(), offspring.end());
    rank_and_crowd(merged, rank, crowd);
    std::vector<size_t> order(merged.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return rank[a] != rank[b] ? rank[a] < rank[b] : crowd[a] > crowd[b];
    });
    std::vector<Member> next;
    for (size_t i = 0; i < order.size() && static_cast<int>(next.size()) < options_.population; ++i)
      next.push_back(merged[order[i]]);
    population = std::move(next);
  }
}

}  // namespace hilq::search
