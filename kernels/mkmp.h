// MKMP front API: what the runtime and the agent call. A Context holds the detected CPU features,
// the chosen path (forceable with HILQ_ISA=ref|avx2|avxvnni|avx512vnni|amx|neon|dotprod|i8mm) and a
// thread pool; matmul() quantizes activations per token (token-adaptive 4/8 bits), groups the rows
// by bit width, runs each group through the kernel specialised for its (a_bits, w_bits) pair and
// writes the outputs back in row order. last_kernel() names what ran, for every measurement.
//
//   y[t][m] = a_scale[t] * sum_g w_scale[m][g] * sum_{k in g} q_w[m][k] * q_a[t][k]  (+ bias[m])
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/aligned.h"
#include "kernels/cpu_features.h"
#include "kernels/isa.h"
#include "kernels/kernel_iface.h"
#include "kernels/pack.h"

namespace hilq::kernels {

class ThreadPool;

// Per-token quantized activations: row t has its own bit width (4 or 8) and scale.
struct QuantizedActivations {
  int rows = 0;
  int cols = 0;
  int cols_pad = 0;             // cols rounded up to 128: fits every weight group size
  AlignedBuffer<int8_t> q;      // [rows][cols_pad], zeros past cols
  AlignedBuffer<float> scales;  // [rows]
  std::vector<uint8_t> bits;    // [rows]: 4 or 8
  AlignedBuffer<int32_t> sums;  // [rows][sum_stride()]: sum of q per 32 columns, then the total
  int64_t sum_stride() const { return cols_pad / 32 + 1; }
};
constexpr int kActColsAlign = 128;

// Which int4 kernel family runs W4A4: unpack to int8 + dot product, or the Squat paper's
// concatenated-int16 kernel (two rows per 16-bit lane, widening MAC, periodic split).
enum class Int4Variant { kDot, kConcat };
const char* int4_variant_name(Int4Variant v);  // "dot", "cat"

struct ContextOptions {
  int threads = 0;   // 0: all online CPUs
  std::string isa;   // "": $HILQ_ISA if set, else the best path; a path the CPU lacks is clamped
  std::string int4;  // "": $HILQ_INT4 ("dot" | "cat") if set, else the per-path default
};

class Context {
 public:
  explicit Context(const ContextOptions& options = {});
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const CpuFeatures& features() const { return features_; }
  Isa isa() const { return isa_; }
  Int4Variant int4_variant() const { return int4_; }
  void set_int4_variant(Int4Variant v) {
    int4_ = v;
    selected_ = {};
  }
  int threads() const { return threads_; }
  // Changes the thread count (restarts the pool when it grows).
  void set_threads(int threads);
  // Kernel(s) of the last call, '+'-joined when a call ran several (mixed token bit widths).
  const std::string& last_kernel() const { return last_kernel_; }

  ThreadPool& pool() { return *pool_; }
  std::string& last_kernel_mut() { return last_kernel_; }
  QuantizedActivations& scratch_acts() { return scratch_; }
  // select_kernel() memo for the dispatcher: [op][w_bits][a_bits == 4][group / 32].
  const KernelInfo*& selected(int op, int w_bits, int a_bits, int group) {
    return selected_[op][w_bits][a_bits == 4][group / 32 - (group == 128)];
  }

 private:
  CpuFeatures features_;
  Isa isa_ = Isa::kRef;
  Int4Variant int4_ = Int4Variant::kDot;
  int threads_ = 1;
  std::unique_ptr<ThreadPool> pool_;
  std::string last_kernel_;
  QuantizedActivations scratch_;
  std::array<std::array<std::array<std::array<const KernelInfo*, 4>, 2>, 9>, 2> selected_{};
};

// Quantizes x[n][cols] (row stride ldx) per row; row_bits[t] in {4, 8} (null: all 8).
void quantize_activations(const Context& ctx, const float* x, int n, int cols, int64_t ldx,
                          const uint8_t* row_bits, QuantizedActivations* out);
// Scalar version of the same (the oracle of the SIMD activation quantizers).
void quantize_activations_ref(const float* x, int n, int cols, int64_t ldx, const uint8_t* row_bits,
                              QuantizedActivations* out);

// y[t][m] for t < a.rows, m < w.layout.rows (row stride ldy); bias [rows] or null.
void matmul(Context& ctx, const PackedWeights& w, const QuantizedActivations& a, float* y,
            int64_t ldy, const float* bias = nullptr);
// Same, quantizing x[n][cols] into the context's scratch first.
void matmul(Context& ctx, const PackedWeights& w, const float* x, int n, int64_t ldx,
            const uint8_t* row_bits, float* y, int64_t ldy, const float* bias = nullptr);

// Float baselines: w row-major [rows][cols] as fp32, or fp16 storage (IEEE binary16 bits).
void matmul_fp32(Context& ctx, const float* w, int rows, int cols, const float* x, int n,
                 int64_t ldx, float* y, int64_t ldy, const float* bias = nullptr);
void matmul_fp16(Context& ctx, const uint16_t* w, int rows, int cols, const float* x, int n,
                 int64_t ldx, float* y, int64_t ldy, const float* bias = nullptr);

// Every kernel compiled into this binary (whether or not this CPU can run it).
const std::vector<KernelInfo>& kernel_registry();
// The kernel the context would run; null if none.
const KernelInfo* select_kernel(const Context& ctx, KernelOp op, int w_bits, int a_bits, int group);
const KernelInfo* select_fp_kernel(const Context& ctx, KernelOp op, KernelKind kind);
// The oracle of a kernel (same op, kind, bits, group; isa ref).
const KernelInfo* reference_of(const KernelInfo& k);
Isa kernel_isa(const KernelInfo& k);

// Runs one integer kernel on the calling thread over all panels (tests and benchmarks).
// acc != null stores the int32 accumulators instead of y (see KernelArgs::acc).
void run_kernel(const KernelInfo& k, const PackedWeights& w, const QuantizedActivations& a,
                const int32_t* a_rows, int n, float* y, int64_t ldy, const float* bias,
                int32_t* acc = nullptr);
void run_fp_kernel(const KernelInfo& k, const void* w, int rows, int cols, const float* x, int n,
                   int64_t ldx, float* y, int64_t ldy, const float* bias);

// IEEE binary16 conversion, round to nearest even (what vcvtps2ph / fcvtn do).
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);

}  // namespace hilq::kernels
