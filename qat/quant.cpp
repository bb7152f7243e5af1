// LSQ fake quantization ops, the token-importance mask and the per-model quantizer state.
#include "qat/quant.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/quantize.h"

namespace hilq::qat {
namespace {

namespace k = hilq::kernels;

// Rows are processed in chunks of this many values through stack buffers (any thread).
constexpr int kChunk = 256;

// out[i] = dequantize_value(quantize_value(x[i], s, bits), s) with lo = qmin, hi = qmax: the same
// operations per value, written branch-free so that the compiler vectorizes the loop (a
// whole-value clamp, NaN -> 0 and -0 -> +0 give the integer round trip's result exactly).
void fake_quant_span(const float* x, int n, float s, float lo, float hi, float* out) {
  for (int i = 0; i < n; ++i) {
    float r = std::nearbyint(x[i] / s);
    r = r < lo ? lo : (r > hi ? hi : r);
    r = r == r ? r + 0.0f : 0.0f;
    out[i] = s * r;
  }
}

// d x_hat / d s before the gradient scale, and whether x is inside the range, for n values
// (vectorizable): d[i] = qmin or qmax outside the range, else round(v) - v with v = x / s.
void step_grad_span(const float* x, int n, float s, float lo, float hi, float* d, uint8_t* inside) {
  for (int i = 0; i < n; ++i) {
    const float v = x[i] / s;
    const float rounded = std::nearbyint(v) - v;
    const bool below = v<lo, above = v> hi;
    d[i] = below ? lo : (above ? hi : rounded);
    inside[i] = !(below || above);
  }
}

// gx[i] += g[i] where the value was inside the range (outside: gx unchanged, even its zero sign).
void pass_inside(const float* g, const uint8_t* inside, int n, float* gx) {
  for (int i = 0; i < n; ++i) gx[i] = inside[i] ? gx[i] + g[i] : gx[i];
}

// acc + p * scale, rounded as GCC contracts `acc += g * d * scale` in the scalar loop this
// replaced: one fused multiply-add where the target has FMA, a product and a sum elsewhere. Written
// out so that the vectorized loops keep the step gradients of earlier builds bit for bit.
inline float add_scaled(float acc, float p, float scale) {
#ifdef __FMA__
  return std::fma(p, scale, acc);
#else
  return acc + p * scale;
#endif
}

void check_bits(int bits, const char* op) {
  if (bits < 2 || bits > 8)
    throw QatError(std::string(op) + ": bits " + std::to_string(bits) + " not in [2, 8]");
}

constexpr float kMinStep = 1e-8f;  // steps stay positive (a zero step would divide by zero)

}  // namespace

Var lsq_weight(const Var& w, const Var& step, int bits, int group) {
  check_bits(bits, "lsq_weight");
  const int rows = w->rows(), cols = w->cols();
  const int gsize = group > 0 ? group : cols;
  const int groups = (cols + gsize - 1) / gsize;
  if (step->rows() != rows || step->cols() != groups) {
    throw QatError("lsq_weight: step is " + std::to_string(step->rows()) + "x" +
                   std::to_string(step->cols()) + ", expected " + std::to_string(rows) + "x" +
                   std::to_string(groups));
  }
  const auto lo = static_cast<float>(k::qmin(bits)), hi = static_cast<float>(k::qmax(bits));
  Mat out(rows, cols);
#pragma omp parallel for schedule(static) if (rows >= 64)
  for (int r = 0; r < rows; ++r) {
    for (int c0 = 0; c0 < cols; c0 += gsize) {
      const Eigen::Index at = Eigen::Index{r} * cols + c0;
      fake_quant_span(w->value.data() + at, std::min(gsize, cols - c0), step->value(r, c0 / gsize),
                      lo, hi, out.data() + at);
    }
  }
  const float gscale = 1.0f / std::sqrt(static_cast<float>(gsize) * k::qmax(bits));
  return make_node(std::move(out), {w, step}, [w, step, lo, hi, gsize, gscale](Node& self) {
    const int rows = w->rows(), cols = w->cols();
    Mat* gw = w->requires_grad ? &w->grad_ref() : nullptr;
    Mat* gs = step->requires_grad ? &step->grad_ref() : nullptr;
#pragma omp parallel for schedule(static) if (rows >= 64)
    for (int r = 0; r < rows; ++r) {
      float d[kChunk];
      uint8_t inside[kChunk];
      for (int c0 = 0; c0 < cols; c0 += gsize) {
        const int group_end = std::min(cols, c0 + gsize);
        const float s = step->value(r, c0 / gsize);
        // The step's gradient is summed in column order, as one value at a time would.
        float ds = gs ? (*gs)(r, c0 / gsize) : 0.0f;
        for (int c = c0; c < group_end; c += kChunk) {
          const int n = std::min(kChunk, group_end - c);
          const Eigen::Index at = Eigen::Index{r} * cols + c;
          const float* g = self.grad.data() + at;
          step_grad_span(w->value.data() + at, n, s, lo, hi, d, inside);
          if (gw) pass_inside(g, inside, n, gw->data() + at);
          if (gs)
            for (int i = 0; i < n; ++i) ds = add_scaled(ds, g[i] * d[i], gscale);
        }
        if (gs) (*gs)(r, c0 / gsize) = ds;
      }
    }
  });
}

Var lsq_activation(const Var& x, const Var& step_hi, int bits_hi, const Var& step_lo, int bits_lo,
                   const std::vector<uint8_t>& high) {
  check_bits(bits_hi, "lsq_activation");
  const int rows = x->rows(), cols = x->cols();
  if (!high.empty() && static_cast<int>(high.size()) != rows) {
    throw QatError("lsq_activation: token mask has " + std::to_string(high.size()) +
                   " rows, x has " + std::to_string(rows));
  }
  auto is_high = [&high](int r) { return high.empty() || high[static_cast<size_t>(r)] != 0; };
  int64_t n_hi = 0;
  for (int r = 0; r < rows; ++r) n_hi += is_high(r);
  if (n_hi < rows) {
    if (!step_lo) throw QatError("lsq_activation: low-bit rows but no low step");
    check_bits(bits_lo, "lsq_activation");
  }
  // The width of low rows, checked above when there are any (else never used).
  const int lo_bits = n_hi < rows ? bits_lo : bits_hi;
  const float s_hi = step_hi->scalar(), s_lo = step_lo ? step_lo->scalar() : 1.0f;
  Mat out(rows, cols);
  for (int r = 0; r < rows; ++r) {
    const bool h = is_high(r);
    const float s = h ? s_hi : s_lo;
    const int b = h ? bits_hi : lo_bits;
    const Eigen::Index at = Eigen::Index{r} * cols;
    fake_quant_span(x->value.data() + at, cols, s, static_cast<float>(k::qmin(b)),
                    static_cast<float>(k::qmax(b)), out.data() + at);
  }
  const float g_hi =
      1.0f / std::sqrt(static_cast<float>(std::max<int64_t>(1, n_hi * cols)) * k::qmax(bits_hi));
  const float g_lo =
      n_hi < rows ? 1.0f / std::sqrt(static_cast<float>((rows - n_hi) * cols) * k::qmax(bits_lo))
                  : 0.0f;
  std::vector<Var> parents{x, step_hi};
  if (step_lo) parents.push_back(step_lo);
  return make_node(
      std::move(out), std::move(parents),
      [x, step_hi, step_lo, bits_hi, bits_lo, high, g_hi, g_lo](Node& self) {
        const int rows = x->rows(), cols = x->cols();
        Mat* gx = x->requires_grad ? &x->grad_ref() : nullptr;
        double ds_hi = 0, ds_lo = 0;
        const float s_hi = step_hi->scalar(), s_lo = step_lo ? step_lo->scalar() : 1.0f;
        float d[kChunk];
        uint8_t inside[kChunk];
        for (int r = 0; r < rows; ++r) {
          const bool h = high.empty() || high[static_cast<size_t>(r)] != 0;
          const float s = h ? s_hi : s_lo;
          const int b = h ? bits_hi : bits_lo;
          const auto lo = static_cast<float>(k::qmin(b)), hi = static_cast<float>(k::qmax(b));
          double acc = 0;
          for (int c = 0; c < cols; c += kChunk) {
            const int n = std::min(kChunk, cols - c);
            const Eigen::Index at = Eigen::Index{r} * cols + c;
            const float* g = self.grad.data() + at;
            step_grad_span(x->value.data() + at, n, s, lo, hi, d, inside);
            if (gx) pass_inside(g, inside, n, gx->data() + at);
            for (int i = 0; i < n; ++i) acc += static_cast<double>(g[i]) * d[i];
          }
          (h ? ds_hi : ds_lo) += acc;
        }
        if (step_hi->requires_grad) step_hi->grad_ref()(0, 0) += static_cast<float>(ds_hi) * g_hi;
        if (step_lo && step_lo->requires_grad) {
          step_lo->grad_ref()(0, 0) += static_cast<float>(ds_lo) * g_lo;
        }
      });
}

Var dynamic_token_quant(const Var& x, int bits_hi, int bits_lo, const std::vector<uint8_t>& high) {
  const int rows = x->rows(), cols = x->cols();
  Mat out(rows, cols);
  for (int r = 0; r < rows; ++r) {
    const int b = high.empty() || high[static_cast<size_t>(r)] ? bits_hi : bits_lo;
    const float* row = x->value.data() + static_cast<Eigen::Index>(r) * cols;
    const float s = k::absmax_scale(row, cols, b);
    for (int c = 0; c < cols; ++c)
      out(r, c) = k::dequantize_value(k::quantize_value(row[c], s, b), s);
  }
  // Absmax scales never clip, so the straight-through gradient is the identity.
  return make_node(std::move(out), {x}, [x](Node& self) { x->grad_ref() += self.grad; });
}

Var fixed_quant(const Var& x, float scale, int bits) {
  const float lo = scale * k::qmin(bits), hi = scale * k::qmax(bits);
  Mat out = x->value.unaryExpr([scale, bits](float v) {
    return k::dequantize_value(k::quantize_value(v, scale, bits), scale);
  });
  return make_node(std::move(out), {x}, [x, lo, hi](Node& self) {
    x->grad_ref().array() +=
        (x->value.array() >= lo && x->value.array() <= hi).select(self.grad.array(), 0.0f);
  });
}

std::vector<uint8_t> token_importance_mask(const Mat& probs, const AttnShape& s,
                                           const std::vector<int>& lengths, double fraction) {
  const int T = s.seq, H = s.heads;
  std::vector<uint8_t> mask(static_cast<size_t>(s.batch) * T, 0);
  std::vector<float> score(static_cast<size_t>(T));
  std::vector<int> order(static_cast<size_t>(T));
  for (int b = 0; b < s.batch; ++b) {
    const int len = lengths.empty() ? T : lengths[static_cast<size_t>(b)];
    for (int i = 0; i < T; ++i) {
      float a = 0;
      for (int h = 0; h < H; ++h) a += probs((b * H + h) * T + i, 0);
      score[static_cast<size_t>(i)] = a / static_cast<float>(H);
    }
    std::iota(order.begin(), order.begin() + len, 0);
    std::stable_sort(order.begin(), order.begin() + len, [&](int x, int y) {
      return score[static_cast<size_t>(x)] > score[static_cast<size_t>(y)];
    });
    const int top = std::min(len, static_cast<int>(std::ceil(fraction * len - 1e-9)));
    for (int j = 0; j < top; ++j)
      mask[static_cast<size_t>(b) * static_cast<size_t>(T) +
           static_cast<size_t>(order[static_cast<size_t>(j)])] = 1;
  }
  return mask;
}

float lsq_init_step(const float* x, size_t n, int bits) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += std::fabs(x[i]);
  const double mean = n ? s / static_cast<double>(n) : 0.0;
  return std::max(kMinStep,
                  static_cast<float>(2.0 * mean / std::sqrt(static_cast<double>(k::qmax(bits)))));
}

float mse_step(const float* x, size_t n, int bits) {
  float amax = 0;
  for (size_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  if (amax == 0.0f) return 1.0f;
  float best = amax / k::qmax(bits);
  double best_err = INFINITY;
  for (int step = 0; step <= 14; ++step) {
    const float s = amax * (1.0f - 0.05f * static_cast<float>(step)) / k::qmax(bits);
    double err = 0;
    for (size_t i = 0; i < n; ++i) {
      const double d = x[i] - k::dequantize_value(k::quantize_value(x[i], s, bits), s);
      err += d * d;
    }
    if (err < best_err) {
      best_err = err;
      best = s;
    }
  }
  return best;
}

QuantState::QuantState(const model::QuantSpec& config, int n_layers, model::ModelKind kind)
    : config_(config) {
  config_.validate(n_layers);
  for (const auto& [unit, u] : config_.units) {
    if (u.w_bits > 0) weights_[unit] = WeightPoint{u.w_bits, u.group, nullptr};
  }
  for (int l = 0; l < n_layers; ++l) {
    // Layer 0 has no earlier attention map: all of it runs at the high width (the paper).
    for (const auto& point : model::activation_points(l)) add_act(point, l == 0);
  }
  if (kind == model::ModelKind::kCausalLm) add_act(model::head_activation_point(), false);
}

void QuantState::add_act(const model::ActivationPoint& point, bool force_high) {
  const model::UnitSpec u = config_.unit(point.unit);
  if (u.a_bits == 0) return;
  ActPoint a;
  const bool adaptive = config_.adaptive(u) && point.name != model::head_activation_point().name;
  a.bits = adaptive ? config_.token_adaptive->high_bits : u.a_bits;
  a.low_bits = adaptive && !force_high ? config_.token_adaptive->low_bits : 0;
  a.prev_mask = point.prev_mask;
  any_adaptive_ = any_adaptive_ || a.low_bits > 0;
  a.step_hi = parameter(Mat::Ones(1, 1), point.name + ".a_step_hi");
  if (a.low_bits) a.step_lo = parameter(Mat::Ones(1, 1), point.name + ".a_step_lo");
  acts_[point.name] = a;
}

double QuantState::high_fraction() const {
  return config_.token_adaptive ? config_.token_adaptive->high_fraction : 1.0;
}

Var QuantState::weight(const std::string& unit, const Var& w) {
  auto it = weights_.find(unit);
  if (it == weights_.end() || mode == Mode::kObserve) return w;
  if (!it->second.step) throw QatError("quantizer of " + unit + " used before init_weight_steps");
  return lsq_weight(w, it->second.step, it->second.bits, it->second.group);
}

Var QuantState::act(const std::string& point, const Var& x, const std::vector<uint8_t>& high) {
  auto it = acts_.find(point);
  if (it == acts_.end()) return x;
  const ActPoint& a = it->second;
  const std::vector<uint8_t> none;
  const std::vector<uint8_t>& mask = a.low_bits ? high : none;
  if (mode == Mode::kObserve) {
    ActStats& st = stats_[point];
    const int rows = x->rows(), cols = x->cols();
    for (int r = 0; r < rows; ++r) {
      const int g = mask.empty() || mask[static_cast<size_t>(r)] ? 0 : 1;
      for (int c = 0; c < cols; ++c) st.abs_sum[g] += std::fabs(x->value(r, c));
      st.count[g] += cols;
      // Every 7th row (prime stride against the sequence length) feeds the MSE sample.
      if (r % 7 == 0 && st.sample[g].size() < (1u << 18)) {
        st.sample[g].insert(st.sample[g].end(),
                            x->value.data() + static_cast<Eigen::Index>(r) * cols,
                            x->value.data() + static_cast<Eigen::Index>(r + 1) * cols);
      }
    }
    return x;
  }
  if (config_.dynamic()) {
    return dynamic_token_quant(x, a.bits, a.low_bits ? a.low_bits : a.bits, mask);
  }
  return lsq_activation(x, a.step_hi, a.bits, a.step_lo, a.low_bits, mask);
}

void QuantState::init_weight_steps(const std::map<std::string, Var>& unit_weights, Init how,
                                   WeightStepCache* cache) {
  for (auto& [unit, wp] : weights_) {
    auto it = unit_weights.find(unit);
    if (it == unit_weights.end()) throw QatError("init_weight_steps: no weight for unit " + unit);
    const auto key = std::make_tuple(unit, wp.bits, wp.group, how);
    if (cache) {
      const auto hit = cache->find(key);
      if (hit != cache->end()) {
        wp.step = parameter(hit->second, unit + ".w_step");
        continue;
      }
    }
    const Mat& w = it->second->value;
    const int rows = static_cast<int>(w.rows()), cols = static_cast<int>(w.cols());
    const int gsize = wp.group > 0 ? wp.group : cols;
    const int groups = (cols + gsize - 1) / gsize;
    Mat s(rows, groups);
    std::vector<float> buf(static_cast<size_t>(gsize));
    for (int r = 0; r < rows; ++r) {
      for (int g = 0; g < groups; ++g) {
        const int c0 = g * gsize, n = std::min(gsize, cols - c0);
        for (int c = 0; c < n; ++c) buf[static_cast<size_t>(c)] = w(r, c0 + c);
        s(r, g) = how == Init::kLsq ? lsq_init_step(buf.data(), static_cast<size_t>(n), wp.bits)
                                    : mse_step(buf.data(), static_cast<size_t>(n), wp.bits);
      }
    }
    if (cache) (*cache)[key] = s;
    wp.step = parameter(std::move(s), unit + ".w_step");
  }
}

void QuantState::init_act_steps(Init how) {
  for (auto& [point, a] : acts_) {
    auto it = stats_.find(point);
    if (it == stats_.end())
      throw QatError("init_act_steps: point " + point + " was never observed");
    const ActStats& st = it->second;
    for (int g = 0; g < 2; ++g) {
      Var& step = g == 0 ? a.step_hi : a.step_lo;
      if (!step) continue;
      const int bits = g == 0 ? a.bits : a.low_bits;
      // A group no token fell into (e.g. fraction 1) borrows the other group's statistics.
      const int src = st.count[g] ? g : 1 - g;
      float s;
      if (how == Init::kLsq) {
        const double mean =
            st.count[src] ? st.abs_sum[src] / static_cast<double>(st.count[src]) : 0.0;
        s = std::max(kMinStep, static_cast<float>(2.0 * mean /
                                                  std::sqrt(static_cast<double>(k::qmax(bits)))));
      } else {
        s = mse_step(st.sample[src].data(), st.sample[src].size(), bits);
      }
      step->value(0, 0) = s;
    }
  }
  stats_.clear();
}

void QuantState::clamp_steps() {
  for (auto& [n, w] : weights_) {
    if (w.step) w.step->value = w.step->value.cwiseMax(kMinStep);
  }
  for (auto& [n, a] : acts_) {
    for (Var* s : {&a.step_hi, &a.step_lo}) {
      if (*s) (*s)->value = (*s)->value.cwiseMax(kMinStep);
    }
  }
}

std::vector<std::pair<std::string, Var>> QuantState::named_parameters() const {
  std::vector<std::pair<std::string, Var>> out;
  for (const auto& [n, w] : weights_) {
    if (w.step) out.emplace_back(n + ".w_step", w.step);
  }
  for (const auto& [n, a] : acts_) {
    out.emplace_back(n + ".a_step_hi", a.step_hi);
    if (a.step_lo) out.emplace_back(n + ".a_step_lo", a.step_lo);
  }
  return out;
}

}  // namespace hilq::qat
