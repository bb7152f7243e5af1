// MKMP front: context, kernel registry and selection, token-adaptive dispatch, FP baselines.
#include "kernels/mkmp.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "kernels/check.h"
#include "kernels/cpu_features.h"
#include "kernels/thread_pool.h"

namespace hilq::kernels {

KernelTable ref_kernel_table();
#if defined(HILQ_HAVE_AVX2)
extern const KernelTable kAvx2KernelTable;
extern const KernelTable kAvx2FpKernelTable;
#endif
#if defined(HILQ_HAVE_AVXVNNI)
extern const KernelTable kAvxVnniKernelTable;
#endif
#if defined(HILQ_HAVE_AVX512)
extern const KernelTable kAvx512KernelTable;
extern const KernelTable kAvx512FpKernelTable;
#endif
#if defined(HILQ_HAVE_AMX)
extern const KernelTable kAmxKernelTable;
#endif
#if defined(HILQ_HAVE_NEON)
extern const KernelTable kNeonKernelTable;
extern const KernelTable kDotprodKernelTable;
extern const KernelTable kI8mmKernelTable;
#endif

namespace {

std::vector<KernelTable> tables() {
  std::vector<KernelTable> t{ref_kernel_table()};
#if defined(HILQ_HAVE_AVX2)
  t.push_back(kAvx2KernelTable);
  t.push_back(kAvx2FpKernelTable);
#endif
#if defined(HILQ_HAVE_AVXVNNI)
  t.push_back(kAvxVnniKernelTable);
#endif
#if defined(HILQ_HAVE_AVX512)
  t.push_back(kAvx512KernelTable);
  t.push_back(kAvx512FpKernelTable);
#endif
#if defined(HILQ_HAVE_AMX)
  t.push_back(kAmxKernelTable);
#endif
#if defined(HILQ_HAVE_NEON)
  t.push_back(kNeonKernelTable);
  t.push_back(kDotprodKernelTable);
  t.push_back(kI8mmKernelTable);
#endif
  return t;
}

// Which W4A4 kernel family is faster per path (bench_kernels / bench_int4, kernels/README.md):
// unpack + dot product on x86 (AVX2 and AVX-512 VNNI) and with sdot/usmmla; the concatenated-
// int16 kernel on plain NEON (measured under qemu only: re-check on a board with bench_int4).
Int4Variant default_int4(Isa isa) {
  return isa == Isa::kNeon ? Int4Variant::kConcat : Int4Variant::kDot;
}

// Below this many MACs per thread, one thread runs the call. 64 K keeps every matmul of a small
// LM's decode step but the narrowest (d x d) on both threads: handing a worker a task costs well
// under a microsecond while it spins between the calls of a step, and a call never waits for a
// worker that is not there (thread_pool.h). At 512 K only the LM head split, and a decode step
// of the tiny LM at 2 threads was no faster than at 1.
constexpr int64_t kMinMacsPerThread = int64_t{1} << 16;
// Mixed-precision calls process this many weight bytes per task for both bit widths, so the
// second pass over a chunk of panels finds it in L2.
constexpr int64_t kMixedChunkBytes = 192 * 1024;

bool rank_better(const KernelInfo& a, const KernelInfo* b) {
  return !b || static_cast<int>(a.isa) > static_cast<int>(b->isa);
}

bool usable(const KernelInfo& k, const Context& ctx) {
  const Isa isa = kernel_isa(k);
  return isa_at_most(isa, ctx.isa()) && isa_compiled(isa) && isa_supported(isa, ctx.features());
}

ActQuantFn act_quant_for(Isa max_isa, const CpuFeatures& f) {
  static const std::vector<KernelTable> all = tables();
  ActQuantFn best = nullptr;
  int best_isa = -1;
  for (const auto& t : all) {
    const Isa isa = static_cast<Isa>(t.isa);
    if (t.act_quant && isa_at_most(isa, max_isa) && isa_supported(isa, f) && t.isa > best_isa) {
      best = t.act_quant;
      best_isa = t.isa;
    }
  }
  return best;
}

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

}  // namespace

const char* int4_variant_name(Int4Variant v) { return v == Int4Variant::kConcat ? "cat" : "dot"; }

Isa kernel_isa(const KernelInfo& k) { return static_cast<Isa>(k.isa); }

const std::vector<KernelInfo>& kernel_registry() {
  static const std::vector<KernelInfo> all = [] {
    std::vector<KernelInfo> v;
    for (const auto& t : tables()) v.insert(v.end(), t.kernels, t.kernels + t.count);
    return v;
  }();
  return all;
}

Context::Context(const ContextOptions& o) : features_(cpu_features()) {
  isa_ = best_isa(features_);
  std::string want = o.isa;
  if (want.empty() && env("HILQ_ISA")) want = env("HILQ_ISA");
  if (!want.empty()) {
    const auto forced = isa_from_name(want);
    HILQ_CHECK(forced.has_value(), "HILQ_ISA / isa '%s' is not a kernel path name", want.c_str());
    // Clamp: the best compiled and supported path that is not above the requested one.
    isa_ = best_isa(features_, *forced);
  }
  int4_ = default_int4(isa_);
  std::string v = o.int4;
  if (v.empty() && env("HILQ_INT4")) v = env("HILQ_INT4");
  if (!v.empty()) {
    HILQ_CHECK(v == "dot" || v == "cat", "HILQ_INT4 / int4 '%s' is not dot or cat", v.c_str());
    int4_ = v == "cat" ? Int4Variant::kConcat : Int4Variant::kDot;
  }
  int t = o.threads;
  if (t <= 0) t = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads_ = t;
  pool_ = std::make_unique<ThreadPool>(t);
}

Context::~Context() = default;

void Context::set_threads(int threads) {
  HILQ_CHECK(threads >= 1, "threads %d", threads);
  if (threads > pool_->threads()) pool_ = std::make_unique<ThreadPool>(threads);
  threads_ = threads;
}

const KernelInfo* select_kernel(const Context& ctx, KernelOp op, int w_bits, int a_bits,
                                int group) {
  const int want =
      (w_bits == 4 && a_bits == 4 && group == 0 && ctx.int4_variant() == Int4Variant::kConcat)
          ? kVariantConcat
          : kVariantDot;
  const KernelInfo* best[2] = {nullptr, nullptr};
  for (const auto& k : kernel_registry()) {
    if (k.kind != kKindInt || k.op != op || k.w_bits != w_bits || k.a_bits != a_bits ||
        k.group != group || !usable(k, ctx))
      continue;
    if (rank_better(k, best[k.variant == kVariantConcat])) best[k.variant == kVariantConcat] = &k;
  }
  return want == kVariantConcat && best[1] ? best[1] : best[0];
}

const KernelInfo* select_fp_kernel(const Context& ctx, KernelOp op, KernelKind kind) {
  const KernelInfo* best = nullptr;
  for (const auto& k : kernel_registry())
    if (k.kind == kind && k.op == op && usable(k, ctx) && rank_better(k, best)) best = &k;
  return best;
}

const KernelInfo* reference_of(const KernelInfo& k) {
  for (const auto& r : kernel_registry())
    if (r.isa == static_cast<int>(Isa::kRef) && r.kind == k.kind && r.op == k.op &&
        r.w_bits == k.w_bits && r.a_bits == k.a_bits && r.group == k.group)
      return &r;
  return nullptr;
}

// ---- activations -------------------------------------------------------------------------

namespace {

void prepare_acts(int n, int cols, QuantizedActivations* out) {
  HILQ_CHECK(n >= 0 && cols >= 1 && cols <= kMaxCols, "activations %dx%d", n, cols);
  out->rows = n;
  out->cols = cols;
  out->cols_pad = (cols + kActColsAlign - 1) / kActColsAlign * kActColsAlign;
  const size_t nq = static_cast<size_t>(n) * out->cols_pad;
  if (out->q.size() != nq) out->q.resize(nq);
  if (out->scales.size() != static_cast<size_t>(n)) out->scales.resize(n);
  out->bits.resize(n);
  const size_t ns = static_cast<size_t>(n) * out->sum_stride();
  if (out->sums.size() != ns) out->sums.resize(ns);
}

void quantize_with(ActQuantFn fn, const float* x, int n, int cols, int64_t ldx,
                   const uint8_t* row_bits, QuantizedActivations* out) {
  prepare_acts(n, cols, out);
  for (int t = 0; t < n; ++t) {
    const int bits = row_bits ? row_bits[t] : 8;
    HILQ_CHECK(bits == 4 || bits == 8, "row %d: activation bits %d (4 or 8)", t, bits);
    out->bits[t] = static_cast<uint8_t>(bits);
    fn(x + t * ldx, cols, out->cols_pad, bits, out->q.data() + int64_t{t} * out->cols_pad,
       out->scales.data() + t, out->sums.data() + t * out->sum_stride());
  }
}

}  // namespace

void quantize_activations_ref(const float* x, int n, int cols, int64_t ldx, const uint8_t* row_bits,
                              QuantizedActivations* out) {
  quantize_with(ref_kernel_table().act_quant, x, n, cols, ldx, row_bits, out);
}

void quantize_activations(const Context& ctx, const float* x, int n, int cols, int64_t ldx,
                          const uint8_t* row_bits, QuantizedActivations* out) {
  quantize_with(act_quant_for(ctx.isa(), ctx.features()), x, n, cols, ldx, row_bits, out);
}

// ---- integer matmul ----------------------------------------------------------------------

namespace {

// The GEMV's code prefetch into L1 was measured faster than none on Zen 5 (AMD family 26) only;
// elsewhere it goes to L2.
bool prefetch_to_l1() {
  static const bool zen5 = [] {
    const CpuIdentity& id = cpu_identity();
    return id.vendor == "AuthenticAMD" && id.family >= 26;
  }();
  return zen5;
}

// Below this many weight bytes a matrix is taken to be in L2 already, where a prefetch into L2
// only costs issue slots: half the L2 of a core (its size from the C library, 1 MiB if unknown).
size_t l2_resident_bytes() {
  static const size_t bytes = [] {
    const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return (l2 > 0 ? static_cast<size_t>(l2) : size_t{1} << 20) / 2;
  }();
  return bytes;
}

KernelArgs base_args(const PackedWeights& w, const QuantizedActivations& a) {
  const PackedLayout& l = w.layout;
  KernelArgs k{};
  k.w_data = w.data.data();
  k.w_scales = w.scales.data();
  k.rows = l.rows;
  k.cols_pad = l.cols_pad();
  k.w_bits = l.w_bits;
  k.group = l.group;
  k.groups = l.groups();
  k.panel_bytes = l.panel_bytes();
  k.a = a.q.data();
  k.lda = a.cols_pad;
  k.a_scales = a.scales.data();
  k.a_sums = a.sums.data();
  k.ld_sums = a.sum_stride();
  k.panel_begin = 0;
  k.panel_end = l.panels();
  k.prefetch_to_l1 = prefetch_to_l1();
  k.prefetch_codes = k.prefetch_to_l1 || w.data.size() > l2_resident_bytes();
  return k;
}

struct Plan {
  KernelArgs args[2];
  const KernelInfo* kernel[2];
  int n_parts;
  int panels_per_task;
  int panels;
};

void run_task(void* ctx, int task) {
  const Plan& p = *static_cast<const Plan*>(ctx);
  const int b = task * p.panels_per_task;
  const int e = std::min(p.panels, b + p.panels_per_task);
  for (int i = 0; i < p.n_parts; ++i) {
    KernelArgs k = p.args[i];
    k.panel_begin = b;
    k.panel_end = e;
    p.kernel[i]->fn(k);
  }
}

int threads_for(const Context& ctx, int64_t macs) {
  return static_cast<int>(std::clamp<int64_t>(macs / kMinMacsPerThread, 1, ctx.threads()));
}

}  // namespace

void run_kernel(const KernelInfo& k, const PackedWeights& w, const QuantizedActivations& a,
                const int32_t* a_rows, int n, float* y, int64_t ldy, const float* bias,
                int32_t* acc) {
  HILQ_CHECK(k.kind == kKindInt && k.w_bits == w.layout.w_bits && k.group == w.layout.group,
             "kernel %s does not fit w%d g%d", k.name, w.layout.w_bits, w.layout.group);
  HILQ_CHECK(a.cols == w.layout.cols && a.cols_pad >= w.layout.cols_pad(), "K %d vs %d", a.cols,
             w.layout.cols);
  KernelArgs args = base_args(w, a);
  args.a_rows = a_rows;
  args.n = n;
  args.y = y;
  args.ldy = ldy;
  args.bias = bias;
  args.acc = acc;
  k.fn(args);
}

void matmul(Context& ctx, const PackedWeights& w, const QuantizedActivations& a, float* y,
            int64_t ldy, const float* bias) {
  const PackedLayout& l = w.layout;
  HILQ_CHECK(l.validate().empty(), "%s", l.validate().c_str());
  HILQ_CHECK(a.cols == l.cols && a.cols_pad >= l.cols_pad(), "activations K %d, weights K %d",
             a.cols, l.cols);
  HILQ_CHECK(ldy >= l.rows || a.rows <= 1, "ldy %lld < rows %d", static_cast<long long>(ldy),
             l.rows);
  if (a.rows == 0) return;
  thread_local std::vector<int32_t> idx[2];
  idx[0].clear();
  idx[1].clear();
  for (int t = 0; t < a.rows; ++t) idx[a.bits[t] == 4 ? 1 : 0].push_back(t);
  Plan plan{};
  std::string& name = ctx.last_kernel_mut();
  name.clear();
  for (int i = 0; i < 2; ++i) {
    if (idx[i].empty()) continue;
    const int a_bits = i ? 4 : 8;
    const int n = static_cast<int>(idx[i].size());
    const KernelOp op = n == 1 ? kOpGemv : kOpGemm;
    const KernelInfo*& k = ctx.selected(op, l.w_bits, a_bits, l.group);
    if (!k) k = select_kernel(ctx, op, l.w_bits, a_bits, l.group);
    HILQ_CHECK(k, "no kernel for w%d a%d g%d", l.w_bits, a_bits, l.group);
    KernelArgs& args = plan.args[plan.n_parts];
    args = base_args(w, a);
    args.a_rows = idx[i].data();
    args.n = n;
    args.y = y;
    args.ldy = ldy;
    args.bias = bias;
    plan.kernel[plan.n_parts++] = k;
    if (!name.empty()) name += '+';
    name += k->name;
  }
  plan.panels = l.panels();
  const int threads = threads_for(ctx, int64_t{l.rows} * l.cols * a.rows);
  int tasks = threads == 1 ? 1 : std::min(plan.panels, 4 * threads);
  if (plan.n_parts == 2) {
    const int by_bytes =
        static_cast<int>((l.data_bytes() + kMixedChunkBytes - 1) / kMixedChunkBytes);
    tasks = std::clamp(by_bytes, tasks, plan.panels);
  }
  plan.panels_per_task = (plan.panels + tasks - 1) / tasks;
  tasks = (plan.panels + plan.panels_per_task - 1) / plan.panels_per_task;
  ctx.pool().run(tasks, &run_task, &plan, threads);
}

void matmul(Context& ctx, const PackedWeights& w, const float* x, int n, int64_t ldx,
            const uint8_t* row_bits, float* y, int64_t ldy, const float* bias) {
  quantize_activations(ctx, x, n, w.layout.cols, ldx, row_bits, &ctx.scratch_acts());
  matmul(ctx, w, ctx.scratch_acts(), y, ldy, bias);
}

// ---- float baselines ---------------------------------------------------------------------

namespace {

constexpr int kFpRowsPerTask = 64;

struct FpPlan {
  FpArgs args;
  FpKernelFn fn;
};

void run_fp_task(void* ctx, int task) {
  const FpPlan& p = *static_cast<const FpPlan*>(ctx);
  FpArgs a = p.args;
  a.row_begin = task * kFpRowsPerTask;
  a.row_end = std::min(a.rows, a.row_begin + kFpRowsPerTask);
  p.fn(a);
}

// The layout FpArgs::x_pairs documents. Packed once per call, so that each of the kernel's
// tasks loads a token pair as one vector instead of two halves and an insert (about 14 % of the
// AVX-512 head GEMM on Zen 5, kernels/README.md).
AlignedBuffer<float>& token_pair_buffer() {
  thread_local AlignedBuffer<float> pairs;
  return pairs;
}

const float* pack_token_pairs(const float* x, int n, int cols, int64_t ldx) {
  const int cols8 = (cols + 7) / 8 * 8;
  const int full = cols / 8 * 8;
  AlignedBuffer<float>& pairs = token_pair_buffer();
  pairs.reserve_uninit(static_cast<size_t>((n + 1) / 2) * 2 * cols8);  // every value is written
  float* const first = pairs.data();
  float* out = first;
  for (int t = 0; t < n; t += 2) {
    const float* rows[2] = {x + t * ldx, x + (t + 1 < n ? t + 1 : t) * ldx};
    for (int c = 0; c < cols8; c += 8, out += 16)
      for (int h = 0; h < 2; ++h) {
        if (c < full) {
          std::memcpy(out + 8 * h, rows[h] + c, 8 * sizeof(float));
        } else {
          for (int j = 0; j < 8; ++j) out[8 * h + j] = c + j < cols ? rows[h][c + j] : 0.0f;
        }
      }
  }
  return first;
}

FpArgs fp_args(const KernelInfo& k, const void* w, int rows, int cols, const float* x, int n,
               int64_t ldx, float* y, int64_t ldy, const float* bias) {
  const float* x_pairs =
      k.variant == kVariantTokenPairs ? pack_token_pairs(x, n, cols, ldx) : nullptr;
  return {w, rows, cols, x, ldx, x_pairs, n, bias, y, ldy, 0, rows};
}

// y is written by the tasks, through the plan (which clang-tidy does not follow).
void matmul_fp(Context& ctx, KernelKind kind, const void* w, int rows, int cols, const float* x,
               int n, int64_t ldx,
               float* y,  // NOLINT(readability-non-const-parameter)
               int64_t ldy, const float* bias) {
  HILQ_CHECK(rows >= 1 && cols >= 1 && n >= 0, "fp matmul %dx%d n=%d", rows, cols, n);
  if (n == 0) return;
  const KernelInfo* k = select_fp_kernel(ctx, n == 1 ? kOpGemv : kOpGemm, kind);
  HILQ_CHECK(k, "no float kernel");
  ctx.last_kernel_mut() = k->name;
  FpPlan plan{fp_args(*k, w, rows, cols, x, n, ldx, y, ldy, bias), k->fp_fn};
  const int tasks = (rows + kFpRowsPerTask - 1) / kFpRowsPerTask;
  ctx.pool().run(tasks, &run_fp_task, &plan, threads_for(ctx, int64_t{rows} * cols * n));
}

}  // namespace

void run_fp_kernel(const KernelInfo& k, const void* w, int rows, int cols, const float* x, int n,
                   int64_t ldx, float* y, int64_t ldy, const float* bias) {
  if (n == 0) return;
  k.fp_fn(fp_args(k, w, rows, cols, x, n, ldx, y, ldy, bias));
}

void matmul_fp32(Context& ctx, const float* w, int rows, int cols, const float* x, int n,
                 int64_t ldx, float* y, int64_t ldy, const float* bias) {
  matmul_fp(ctx, kKindFp32, w, rows, cols, x, n, ldx, y, ldy, bias);
}

void matmul_fp16(Context& ctx, const uint16_t* w, int rows, int cols, const float* x, int n,
                 int64_t ldx, float* y, int64_t ldy, const float* bias) {
  matmul_fp(ctx, kKindFp16, w, rows, cols, x, n, ldx, y, ldy, bias);
}

// ---- binary16 ----------------------------------------------------------------------------

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u)
    return static_cast<uint16_t>(sign |
                                 (x > 0x7f800000u ? 0x7e00u | ((x >> 13) & 0x3ffu) : 0x7c00u));
  if (x >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to infinity
  if (x < 0x38800000u) {                                               // half subnormal or zero
    if (x < 0x33000000u) return static_cast<uint16_t>(sign);
    const uint32_t e = x >> 23, m = (x & 0x7fffffu) | 0x800000u, shift = 126 - e;
    uint32_t h = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = (x - 0x38000000u) >> 13;
  const uint32_t rem = x & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t{h & 0x8000u} << 16;
  const uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  uint32_t x;
  if (e == 0) {
    const float v = static_cast<float>(m) * 5.9604644775390625e-8f;  // m * 2^-24, exact
    std::memcpy(&x, &v, 4);
    x |= sign;
  } else if (e == 31) {
    x = sign | 0x7f800000u | (m << 13);
  } else {
    x = sign | ((e + 112) << 23) | (m << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

}  // namespace hilq::kernels
