// Loads a run into a RunView (see run_view.h): the one place that decodes the DB's rows and parses
// their JSON blobs (job config, agent metrics, samples, board features).
#include "reports/run_view.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <iterator>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "db/run_store.h"

namespace hilq::reports {
namespace {

using nlohmann::json;

// A blob as JSON; null when absent or not valid JSON (a report never fails on one bad row).
json parse_blob(const std::optional<std::string>& text) {
  if (!text) return nullptr;
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? json(nullptr) : j;
}

// The value at a path of object keys, or nullptr when a step is missing.
const json* find_at(const json& j, std::initializer_list<const char*> path) {
  const json* at = &j;
  for (const char* key : path) {
    if (!at->is_object()) return nullptr;
    const auto it = at->find(key);
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return at;
}

std::optional<double> number_at(const json& j, std::initializer_list<const char*> path) {
  const json* v = find_at(j, path);
  if (!v || !v->is_number()) return std::nullopt;
  return v->get<double>();
}

std::optional<int64_t> integer_at(const json& j, std::initializer_list<const char*> path) {
  const json* v = find_at(j, path);
  if (!v || !v->is_number()) return std::nullopt;
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    return std::nullopt;
  if (v->is_number_integer()) return v->get<int64_t>();
  // A float beyond int64 (1e300) is no integer: refused before the conversion, which would be
  // undefined.
  const double d = v->get<double>();
  if (!(d >= -0x1p63 && d < 0x1p63)) return std::nullopt;
  return std::llround(d);
}

std::optional<std::string> string_at(const json& j, std::initializer_list<const char*> path) {
  const json* v = find_at(j, path);
  if (!v || !v->is_string()) return std::nullopt;
  return v->get<std::string>();
}

JobKind job_kind_of(const std::string& kind) {
  if (kind == "kernel-bench") return JobKind::kKernelBench;
  if (kind == "model-bench") return JobKind::kModelBench;
  return JobKind::kOther;
}

// A model-bench row's setting: the label the agent's runtime gave the loaded model (its column,
// or the metrics of a row written without it), else the job config's setting or float baseline.
std::string model_setting(const db::MeasurementRow& row, const json& config, const json& metrics) {
  if (row.setting) return *row.setting;
  if (auto label = string_at(metrics, {"model_label"})) return *label;
  if (!config.is_object()) return "?";
  if (auto setting = string_at(config, {"setting"})) return *setting;
  if (auto weights = string_at(config, {"weights"})) return *weights == "fp16" ? "FP16" : "FP32";
  return "as stored";
}

Baseline baseline_of(const std::string& setting) {
  if (setting == "FP16") return Baseline::kFp16;
  if (setting == "FP32") return Baseline::kFp32;
  return Baseline::kNone;
}

KernelJob kernel_job_of(const json& config) {
  KernelJob k;
  k.op = string_at(config, {"op"});
  auto integer = [&](const char* key) -> std::optional<int64_t> {
    const json* v = find_at(config, {key});
    if (!v || !v->is_number_integer()) return std::nullopt;
    return v->get<int64_t>();
  };
  k.w_bits = integer("w_bits");
  k.a_bits = integer("a_bits");
  k.m = integer("m");
  k.k = integer("k");
  return k;
}

std::string label_of(const Measurement& m) {
  if (m.job_kind == JobKind::kModelBench) return "decode/token " + m.model.setting;
  const KernelJob& k = m.kernel_job;
  std::string label = k.op.value_or(m.kind);
  if (k.w_bits && k.a_bits)
    label += " w" + std::to_string(*k.w_bits) + "a" + std::to_string(*k.a_bits);
  if (k.m && k.k) label += " " + std::to_string(*k.m) + "×" + std::to_string(*k.k);
  return label;
}

// The figures have columns (db/measurement_store.h); a row written without them (a tool, a
// test) still has them in its metrics JSON.
ModelBench model_bench_of(const db::MeasurementRow& row, const json& config, const json& metrics) {
  ModelBench b;
  b.setting = model_setting(row, config, metrics);
  b.baseline = baseline_of(b.setting);
  b.prefill_ms = row.prefill_ms ? row.prefill_ms : number_at(metrics, {"prefill_ms"});
  if (auto p90_ns = number_at(metrics, {"prefill", "p90_ns"})) b.prefill_p90_ms = *p90_ns / 1e6;
  b.decode_median_ms = row.decode_ms_median ? row.decode_ms_median
                                            : number_at(metrics, {"decode_ms_per_token", "median"});
  b.decode_p90_ms =
      row.decode_ms_p90 ? row.decode_ms_p90 : number_at(metrics, {"decode_ms_per_token", "p90"});
  b.tokens_per_s = row.tokens_per_s ? row.tokens_per_s : number_at(metrics, {"tokens_per_s"});
  b.weights_bytes = row.setting && row.model_bytes
                        ? row.model_bytes
                        : integer_at(metrics, {"memory", "weights_bytes"});
  b.kv_cache_bytes =
      row.kv_bytes ? row.kv_bytes : integer_at(metrics, {"memory", "kv_cache_bytes"});
  // The host writes both (energy_j is per token for model-bench); energy_j first keeps the model
  // table of older runs as it was, the column covers a row written with it alone.
  b.energy_per_token_j = row.energy_j ? row.energy_j : row.energy_per_token_j;
  return b;
}

// The one decoder of a measurements row. When the schema gives these figures their own columns,
// only this function changes.
Measurement measurement_of(db::MeasurementRow&& row) {
  Measurement m;
  m.run_id = row.run_id;
  m.candidate_id = row.candidate_id;
  m.job_id = std::move(row.job_id);
  m.board = std::move(row.board);
  m.agent = std::move(row.agent);
  m.kind = std::move(row.kind);
  m.job_kind = job_kind_of(m.kind);
  m.kernel = std::move(row.kernel);
  m.ok = row.status == "ok";
  m.status = std::move(row.status);
  m.error_class = std::move(row.error_class);
  m.error = std::move(row.error);
  m.latency = {row.latency_median_ns, row.latency_p10_ns,  row.latency_p90_ns,
               row.latency_mad_ns,    row.latency_mean_ns, row.repeats};
  m.peak_rss_bytes = row.peak_rss_bytes;
  m.model_bytes = row.model_bytes;
  m.energy = {row.energy_j, std::move(row.power_source), std::move(row.power_unavailable)};
  m.temperature_c = row.temperature_c;
  m.emulated = row.emulated;

  m.stored.config = parse_blob(row.config);
  m.stored.metrics = parse_blob(row.metrics);
  m.stored.samples_ns = parse_blob(row.samples_ns);
  const json& config = m.stored.config;
  const json& metrics = m.stored.metrics;
  if (const json* t = find_at(metrics, {"throttled"}); t && t->is_boolean())
    m.throttled = t->get<bool>();
  if (const json* r = find_at(metrics, {"throttle_reasons"}); r && r->is_array())
    for (const json& reason : *r)
      if (reason.is_string()) m.throttle_reasons.push_back(reason.get<std::string>());
  m.gops = number_at(metrics, {"gops"});
  m.kernel_job = kernel_job_of(config);
  if (m.job_kind == JobKind::kModelBench) m.model = model_bench_of(row, config, metrics);
  m.label = label_of(m);
  m.stored.config_text = std::move(row.config);
  m.stored.metrics_text = std::move(row.metrics);
  return m;
}

BoardInfo board_of(db::RunStore& store, const std::string& name) {
  BoardInfo b;
  b.name = name;
  const auto row = store.board(name);
  if (!row) return b;
  b.known = true;
  b.arch = row->arch;
  const json features = parse_blob(row->features);
  if (features.is_array())
    for (const json& f : features)
      if (f.is_string()) b.features.push_back(f.get<std::string>());
  b.cores = row->cores;
  b.memory_bytes = row->memory_bytes;
  b.agent_version = row->agent_version;
  b.emulated = row->emulated;
  return b;
}

SearchConstraints constraints_of(const std::string& text) {
  SearchConstraints c;
  c.stored = parse_blob(text);
  const json& j = c.stored;
  c.task = string_at(j, {"task"}).value_or("");
  c.metric = string_at(j, {"metric"}).value_or(c.task == "cls" ? "accuracy" : "perplexity");
  c.max_ppl_increase = number_at(j, {"max_ppl_increase"});
  c.max_acc_drop = number_at(j, {"max_acc_drop"});
  c.mem_budget_bytes = integer_at(j, {"mem_budget_bytes"});
  c.float_bytes = integer_at(j, {"float_bytes"});
  c.float_metric = number_at(j, {"float_metric"});
  c.metric_limit = number_at(j, {"metric_limit"});
  c.strategy = string_at(j, {"strategy"}).value_or("");
  c.seed = integer_at(j, {"seed"});
  return c;
}

// Where a unit sits in the model: embed first, then by layer, then q k v o gate up down.
std::pair<int64_t, int> unit_order(const std::string& name) {
  if (name == "embed") return {-1, 0};
  static const char* kRoles[] = {"attn.q",   "attn.k", "attn.v",  "attn.o",
                                 "mlp.gate", "mlp.up", "mlp.down"};
  int64_t layer = INT64_MAX;
  if (name.rfind("layers.", 0) == 0) {
    const size_t dot = name.find('.', 7);
    const std::string digits = name.substr(7, dot == std::string::npos ? dot : dot - 7);
    if (!digits.empty() && digits.size() < 10 &&
        digits.find_first_not_of("0123456789") == std::string::npos)
      layer = std::stoll(digits);
    const std::string role = dot == std::string::npos ? "" : name.substr(dot + 1);
    for (int i = 0; i < 7; ++i)
      if (role == kRoles[i]) return {layer, i};
  }
  return {layer, 7};
}

// The units of a quant config ({"units": {name: {w_bits, a_bits, group}}, "token_adaptive":
// {high_bits, low_bits, ...} or null}), in model order; empty for any other JSON.
std::vector<UnitBits> units_of(const json& config) {
  std::vector<UnitBits> out;
  const json* units = find_at(config, {"units"});
  if (!units || !units->is_object()) return out;
  const auto low = integer_at(config, {"token_adaptive", "low_bits"});
  const auto high = integer_at(config, {"token_adaptive", "high_bits"});
  for (const auto& [name, u] : units->items()) {
    const auto w = integer_at(u, {"w_bits"});
    const auto a = integer_at(u, {"a_bits"});
    if (!w || !a) continue;
    UnitBits b;
    b.name = name;
    b.w_bits = static_cast<int>(*w);
    b.a_bits = static_cast<int>(*a);
    b.group = static_cast<int>(integer_at(u, {"group"}).value_or(0));
    b.token_adaptive = low && high && *a == *low && *high > *low;
    b.high_bits = b.token_adaptive ? static_cast<int>(*high) : 0;
    out.push_back(std::move(b));
  }
  std::stable_sort(out.begin(), out.end(), [](const UnitBits& a, const UnitBits& b) {
    return unit_order(a.name) < unit_order(b.name);
  });
  return out;
}

// Two runs' limits are the same study when the metric, its limit and the memory budget agree
// (limits are stored as computed: equal to 1e-9 relative).
bool same_limits(const SearchConstraints& a, const SearchConstraints& b) {
  if (a.metric != b.metric || !a.metric_limit || !b.metric_limit) return false;
  if (std::abs(*a.metric_limit - *b.metric_limit) > 1e-9 * std::abs(*a.metric_limit)) return false;
  return a.mem_budget_bytes == b.mem_budget_bytes;
}

SearchTrace trace_of(db::Database& db, int64_t run_id, const SearchConstraints& c) {
  SearchTrace t;
  t.run_id = run_id;
  t.strategy = c.strategy.empty() ? "tiered" : c.strategy;
  t.seed = c.seed;
  db::Statement q(db,
                  "SELECT c.id, c.status, c.memory_bytes, e.value FROM candidates c JOIN "
                  "evaluations e ON e.candidate_id = c.id AND e.split = 'validation' AND "
                  "e.metric = ? WHERE c.run_id = ? ORDER BY c.id");
  q.bind_all(c.metric, run_id);
  while (q.step()) {
    const std::string status = q.column_optional_text(1).value_or("");
    if (status == "reference" || status == "pruned") continue;
    t.scorings.push_back(
        {q.column_int(0), q.column_double(3), q.column_optional_int(2), status == "feasible"});
  }
  return t;
}

// This run's trace, then those of the other runs of the same model (when both name one) and
// limits.
std::vector<SearchTrace> traces_of(db::Database& db, const RunView& view,
                                   const SearchConstraints& mine) {
  std::vector<SearchTrace> out{trace_of(db, view.run.id, mine)};
  if (!mine.metric_limit) return out;
  db::Statement q(db,
                  "SELECT id, constraints, model_hash FROM runs WHERE id <> ? AND id IN "
                  "(SELECT DISTINCT run_id FROM candidates) ORDER BY id");
  q.bind(1, view.run.id);
  std::vector<std::pair<int64_t, SearchConstraints>> others;
  while (q.step()) {
    const auto hash = q.column_optional_text(2);
    if (hash && view.run.model_hash && *hash != *view.run.model_hash) continue;
    SearchConstraints c = constraints_of(q.column_text(1));
    if (same_limits(mine, c)) others.emplace_back(q.column_int(0), std::move(c));
  }
  for (const auto& [id, c] : others) {
    SearchTrace t = trace_of(db, id, c);
    if (!t.scorings.empty()) out.push_back(std::move(t));
  }
  return out;
}

// Counts of each distinct text, most first, then by text (so ties read the same every time).
std::vector<std::pair<std::string, int>> ranked(const std::map<std::string, int>& counts) {
  std::vector<std::pair<std::string, int>> out(counts.begin(), counts.end());
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

// The search tables of migration 4 (candidates' label, memory, status, reason; pareto; picks)
// have no typed store in db/ yet: they are read here, the report's one decoder of DB rows.
std::optional<SearchView> load_search(db::Database& db, const RunView& view,
                                      const std::string& constraints) {
  SearchView s;
  {
    db::Statement q(db,
                    "SELECT id, label, tier, status, reason, parent_id, memory_bytes, config_hash, "
                    "artifact_sha256, config FROM candidates WHERE run_id = ? ORDER BY id");
    q.bind(1, view.run.id);
    while (q.step()) {
      Candidate c;
      c.id = q.column_int(0);
      c.label = q.column_optional_text(1).value_or("#" + std::to_string(c.id));
      c.tier = q.column_optional_text(2).value_or("");
      c.status = q.column_optional_text(3).value_or("");
      c.reason = q.column_optional_text(4);
      c.parent_id = q.column_optional_int(5);
      c.memory_bytes = q.column_optional_int(6);
      c.config_hash = q.column_text(7);
      c.artifact_sha256 = q.column_optional_text(8);
      c.config_text = q.column_text(9);
      c.config = parse_blob(c.config_text);
      c.units = units_of(c.config);
      s.candidates.push_back(std::move(c));
    }
  }
  if (s.candidates.empty()) return std::nullopt;
  s.constraints = constraints_of(constraints);
  {
    db::Statement q(db,
                    "SELECT e.candidate_id, e.split, e.value FROM evaluations e JOIN candidates c "
                    "ON c.id = e.candidate_id WHERE c.run_id = ? AND e.metric = ? ORDER BY e.id");
    q.bind_all(view.run.id, s.constraints.metric);
    while (q.step()) {
      auto it = std::find_if(s.candidates.begin(), s.candidates.end(),
                             [&](const Candidate& c) { return c.id == q.column_int(0); });
      if (it == s.candidates.end()) continue;
      const std::string split = q.column_text(1);
      if (split == "validation") it->validation = q.column_double(2);
      if (split == "test") it->test = q.column_double(2);
    }
  }
  auto board = [&](const std::string& name) -> BoardSearch& {
    for (auto& b : s.boards)
      if (b.board == name) return b;
    BoardSearch b;
    b.board = name;
    for (const auto& info : view.boards)
      if (info.name == name) b.emulated = info.emulated;
    s.boards.push_back(std::move(b));
    return s.boards.back();
  };
  for (const auto& m : view.measurements)
    if (m.candidate_id && m.job_kind == JobKind::kModelBench) board(m.board).emulated |= m.emulated;
  {
    db::Statement q(db,
                    "SELECT board, objective_pair, candidate_id FROM pareto WHERE run_id = ? "
                    "ORDER BY board, objective_pair, candidate_id");
    q.bind(1, view.run.id);
    while (q.step()) {
      BoardSearch& b = board(q.column_text(0));
      const std::string pair = q.column_text(1);
      auto it = std::find_if(b.fronts.begin(), b.fronts.end(),
                             [&](const auto& f) { return f.first == pair; });
      if (it == b.fronts.end()) {
        b.fronts.emplace_back(pair, std::vector<int64_t>{});
        it = std::prev(b.fronts.end());
      }
      it->second.push_back(q.column_int(2));
    }
  }
  {
    db::Statement q(db,
                    "SELECT board, rule, candidate_id, score FROM picks WHERE run_id = ? "
                    "ORDER BY board");
    q.bind(1, view.run.id);
    while (q.step())
      board(q.column_text(0)).pick =
          BoardSearch::Pick{q.column_text(1), q.column_int(2), q.column_optional_double(3)};
  }
  std::map<std::string, int> statuses, reasons;
  for (const auto& c : s.candidates) {
    if (c.validation) ++s.scored;
    ++statuses[c.status];
    if (c.status == "pruned") ++reasons[c.reason.value_or("no reason given")];
  }
  s.status_counts = ranked(statuses);
  s.pruned_reasons = ranked(reasons);
  s.traces = traces_of(db, view, s.constraints);
  return s;
}

}  // namespace

RunView load_run_view(db::Database& db, int64_t run_id) {
  db::RunStore store(db);
  auto run = store.run(run_id);
  if (!run) throw DbError("run " + std::to_string(run_id) + " is not in " + db.path());
  RunView view;
  view.run = {.id = run->id,
              .status = std::move(run->status),
              .message = std::move(run->message),
              .command_line = std::move(run->command_line),
              .git_sha = std::move(run->git_sha),
              .model_hash = std::move(run->model_hash),
              .started_at = std::move(run->started_at),
              .finished_at = std::move(run->finished_at)};
  for (auto& row : store.measurements(run_id))
    view.measurements.push_back(measurement_of(std::move(row)));
  for (auto& a : store.agents(run_id))
    view.agents.push_back({std::move(a.id), std::move(a.board), std::move(a.user_id),
                           std::move(a.status), std::move(a.reason)});
  auto add_board = [&](const std::string& name) {
    for (const auto& b : view.boards)
      if (b.name == name) return;
    view.boards.push_back(board_of(store, name));
  };
  for (const auto& m : view.measurements) add_board(m.board);
  for (const auto& a : view.agents) add_board(a.board);
  view.search = load_search(db, view, run->constraints);
  return view;
}

const Measurement* RunView::fp16_baseline(const std::string& board) const {
  const Measurement* found = nullptr;
  for (const auto& m : measurements)
    if (m.board == board && m.ok && m.job_kind == JobKind::kModelBench &&
        m.model.baseline == Baseline::kFp16)
      found = &m;
  return found;
}

std::vector<const Measurement*> RunView::candidate_measurements(int64_t candidate_id,
                                                                const std::string& board) const {
  std::vector<const Measurement*> out;
  for (const auto& m : measurements)
    if (m.candidate_id == candidate_id && m.job_kind == JobKind::kModelBench &&
        (board.empty() || m.board == board))
      out.push_back(&m);
  return out;
}

const Measurement* RunView::candidate_measurement(int64_t candidate_id,
                                                  const std::string& board) const {
  const Measurement* found = nullptr;
  for (const Measurement* m : candidate_measurements(candidate_id, board))
    if (m->ok) found = m;
  return found;
}

const std::vector<int64_t>* BoardSearch::front(const std::string& objective_pair) const {
  for (const auto& [pair, ids] : fronts)
    if (pair == objective_pair) return &ids;
  return nullptr;
}

bool BoardSearch::on_front(const std::string& objective_pair, int64_t candidate_id) const {
  const auto* ids = front(objective_pair);
  return ids && std::find(ids->begin(), ids->end(), candidate_id) != ids->end();
}

const Candidate* SearchView::candidate(int64_t id) const {
  for (const auto& c : candidates)
    if (c.id == id) return &c;
  return nullptr;
}

int SearchView::count(const std::string& status) const {
  for (const auto& [name, n] : status_counts)
    if (name == status) return n;
  return 0;
}

std::optional<double> decode_speedup_over_fp16(const RunView& view, const Measurement& m) {
  if (m.emulated || m.job_kind != JobKind::kModelBench || !m.model.decode_median_ms)
    return std::nullopt;
  const Measurement* base = view.fp16_baseline(m.board);
  if (!base || !base->model.decode_median_ms) return std::nullopt;
  const double speedup = *base->model.decode_median_ms / *m.model.decode_median_ms;
  if (!std::isfinite(speedup)) return std::nullopt;
  return speedup;
}

}  // namespace hilq::reports
