// The tiered quantization search (QSLM's method with the project's decisions): sensitivity of
// every unit alone, then global -> block -> module tiers under a quality constraint (validation
// metric) and a memory budget, every candidate scored on the host by the runtime's kernels and
// recorded (config, tier, parent, outcome). Its quality-feasible candidates are what the boards
// measure; fronts and the pick come after (search/finish.h).
//
//   sensitivity  unit u at weight width w alone (weight only, everything else float), and block
//                l's inputs at A8 / TA8/4 / A4 (its linears at W8): relative perplexity change
//                and output KL on the calibration split; table `sensitivity`, reused per model
//   global       the lowest uniform weight width (embedding included, A8) that meets the
//                constraint is the base
//   block        from the base, lower one block (all its units one width down) at a time,
//                cheapest first (KL per byte saved); a move some unit's own sensitivity already
//                rules out is pruned unscored; a move that breaks the constraint sticks that block
//   module       the same per unit; then trades: raise the most sensitive unit of a block one
//                width when that lets another unit of it drop one, for less memory overall
//   activations  (tier "block": a mode is per block): every block's inputs one mode down
//                (TA8/4, then A4) while the constraint holds, then block by block. They save no
//                weight memory, so they spend only the quality budget the weights left
//   front        last, with the budget the greedy tiers leave: neighbours of the (validation
//                metric, memory) front's members (a unit a width up or down, a block down, a
//                trade inside a block), the one whose predicted metric (sensitivity sums scaled
//                by how well they predicted so far, minus their residual spread) adds the most
//                hypervolume first, until none could add any (search/front_refine.cpp)
//   qat          optional, after the tiers (train_front): the best trade-offs of the front and
//                the smallest near misses (within twice the quality limit) trained with Squat
//                QAT, packed with their learned steps and scored again: new candidates whose
//                parent is the PTQ one; one that now meets the limit joins the front
//   budget       scorings of the tiers (validation); sensitivity is not counted
//   status       reference (the float model), feasible, over-quality, over-budget, pruned
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "db/database.h"
#include "search/scorer.h"
#include "search/space.h"

namespace hilq::search {

struct Constraints {
  double max_metric_increase = 0.05;        // lm: relative perplexity increase on validation
  double max_acc_drop = 1.0;                // cls: accuracy points lost on validation
  std::optional<int64_t> mem_budget_bytes;  // weights as the runtime holds them
};

struct TieredOptions {
  Constraints constraints;
  int group = 0;               // weight group of the linears (0: per channel)
  double high_fraction = 0.5;  // token-adaptive policy
  int budget = 150;            // tier scorings (random, nsga2: proposals)
  // tiered (sensitivity, then global -> block -> module), or a baseline over the same space and
  // scoring: random (uniform over representable points) or nsga2 (constrained domination, rank and
  // crowding on validation metric x memory). Baselines skip sensitivity.
  std::string strategy = "tiered";
  uint64_t seed = 1;
  int population = 50;             // nsga2
  double crossover = 0.9;          // nsga2: probability a pair is crossed (uniform, swap 0.5)
  std::optional<double> mutation;  // nsga2: per-gene probability; default 1 / genes
  // One progress line at a time (tier, scored, cached, left, ETA, best feasible).
  std::function<void(const std::string&)> progress;
  const std::atomic<bool>* stop = nullptr;  // set: the search returns at the next candidate
};

struct SearchCandidate {
  int64_t id = 0;  // candidates.id
  Point point;
  model::QuantSpec spec;
  std::string label, tier, status;
  std::optional<std::string> reason;
  std::optional<int64_t> parent;
  PackedCandidate packed;  // empty path when pruned unscored
  double validation = NAN, output_kl = NAN;
  bool quality_ok = false, memory_ok = false;
  bool feasible() const { return quality_ok && memory_ok; }
};

// Bytes of one unit's weights at w_bits as the runtime packs them (codes + one f32 scale per row
// and group); the embedding is per row.
int64_t unit_weight_bytes(const model::Architecture& arch, const std::string& unit, int w_bits,
                          int group);
// The weights of the smallest point of the space: every unit at 2 bits (norms not counted).
int64_t smallest_point_bytes(const model::Architecture& arch, int group);
// UsageError naming --mem-budget-mb when the budget is below smallest_point_bytes().
void check_memory_budget(const model::Architecture& arch, int group, int64_t budget_bytes);

class TieredSearch {
 public:
  // n_layers and the unit shapes come from the scorer's model.
  TieredSearch(HostScorer& scorer, db::Database& db, int64_t run_id, TieredOptions options);

  // Sensitivity, then the tiers. Returns false when stopped (options.stop) before the end.
  bool run();

  double float_metric() const { return float_metric_; }
  // The validation metric a candidate may reach: at most this perplexity, at least this accuracy.
  double metric_limit() const;
  bool meets_quality(double validation) const;
  int64_t float_bytes() const { return float_bytes_; }
  // Every candidate in the order it was made (the float references first).
  const std::deque<SearchCandidate>& candidates() const { return candidates_; }
  // The QAT step: Squat QAT of the `top` front members with the best trade-off (mu as the
  // pick's) and of up to `top` near misses; each result is a candidate of tier "qat".
  void train_front(int top, const QatOptions& qat, double mu);
  // The QAT engine's own validation metric of a candidate trained in this session (LM), to
  // check its packed file against.
  std::optional<double> engine_validation(int64_t id) const {
    const auto it = engine_validation_.find(id);
    return it == engine_validation_.end() ? std::nullopt : std::optional<double>(it->second);
  }
  // Candidates that met the quality constraint.
  std::vector<const SearchCandidate*> quality_feasible() const;
  // What the boards measure: the quality-feasible candidates no other one beats on validation
  // metric, memory and activation bits at once (a dominated one cannot be faster on a board
  // whose kernels read fewer bytes for fewer bits; those three decide every objective but
  // latency, and latency follows bytes and bits).
  std::vector<const SearchCandidate*> to_measure() const;
  int scored() const { return evaluated_; }
  int sensitivity_scorings() const { return sensitivity_count_; }

 private:
  struct Move {
    double cost = 0;  // output KL per byte saved (lower first)
    Point point;
    std::vector<std::pair<std::string, std::string>> changes;  // (unit or "layers.l.act", setting)
    std::string what;
  };
  void sensitivity();
  // The largest single-unit metric change that does not break the constraint, and its text.
  double allowed_change() const;
  std::string change_text(double change) const;
  double sens_change(const std::string& unit, const std::string& setting) const;
  double sens_kl(const std::string& unit, const std::string& setting) const;
  std::string prune_reason(const Move& m) const;
  const SearchCandidate& evaluate(const Point& p, const std::string& tier,
                                  std::optional<int64_t> parent, const std::string& prune = {});
  void references();
  void random_search();
  void nsga2_search();
  const SearchCandidate* global_tier();
  const SearchCandidate* block_tier(const SearchCandidate* base);
  const SearchCandidate* module_tier(const SearchCandidate* base);
  enum class Moves { kBlockWeights, kBlockActivations, kUnits };
  const SearchCandidate* descend(const SearchCandidate* base, const std::string& tier, Moves kind);
  const SearchCandidate* activation_tier(const SearchCandidate* base);
  const SearchCandidate* trade(const SearchCandidate* base);
  void refine_front();
  std::vector<const SearchCandidate*> qat_targets(int top, double mu) const;
  double additive_metric(double metric) const;
  double from_additive(double value) const;
  double unit_effect(const std::string& unit, int w_bits) const;
  std::vector<double> front_objectives(const SearchCandidate& c) const;
  std::vector<double> front_reference() const;
  std::string config_hash(const Point& p) const;
  const SearchCandidate* record(SearchCandidate c, const std::string& config,
                                const std::string& config_hash);
  int64_t unit_bytes(const std::string& unit, int w_bits) const;
  bool exhausted() const;
  bool stopped() const;
  void report(const std::string& tier);

  HostScorer& scorer_;
  db::Database& db_;
  int64_t run_id_;
  TieredOptions options_;
  SpaceOptions space_;
  std::map<std::pair<std::string, std::string>, std::pair<double, double>> sens_;  // change, kl
  std::deque<SearchCandidate> candidates_;  // stable addresses as it grows
  std::map<std::string, size_t> by_hash_;   // config hash -> index
  std::map<int64_t, double> engine_validation_;
  double float_metric_ = 0;
  int64_t float_bytes_ = 0;
  int evaluated_ = 0, sensitivity_count_ = 0;
  std::string tier_;
  double started_ = 0;
};

}  // namespace hilq::search
