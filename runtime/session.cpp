// The forward pass of the runtime (see session.h for the order of operations).
#include "runtime/session.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/act_quant.h"
#include "runtime/attention.h"
#include "runtime/attention_ops.h"

namespace hilq::runtime {

namespace k = hilq::kernels;

namespace {

template <class T>
T* take(uint8_t* base, size_t* at, size_t n) {
  *at = (*at + 63) / 64 * 64;
  T* p = base ? reinterpret_cast<T*>(base + *at) : nullptr;
  *at += n * sizeof(T);
  return p;
}

// qat/ops_basic.cpp rms_norm: y = x * rsqrt(mean(x^2) + eps) * gain.
// Each row's sum of squares is one chain in column order (what a single row gets alone); rows
// go kRows at a time so that their independent chains overlap instead of waiting on one add's
// latency per column.
void rms_norm(const float* x, const float* gain, int n, int d, float eps, float* y) {
  constexpr int kRows = 8;
  float ss[kRows];
  for (int t0 = 0; t0 < n; t0 += kRows) {
    const int rows = n - t0 < kRows ? n - t0 : kRows;
    const float* x0 = x + int64_t{t0} * d;
    for (float& v : ss) v = 0.0f;
    if (rows == kRows) {
      for (int c = 0; c < d; ++c) {
        for (int r = 0; r < kRows; ++r) ss[r] += x0[r * d + c] * x0[r * d + c];
      }
    } else {
      for (int r = 0; r < rows; ++r) {
        for (int c = 0; c < d; ++c) ss[r] += x0[r * d + c] * x0[r * d + c];
      }
    }
    for (int r = 0; r < rows; ++r) {
      const float* xr = x0 + int64_t{r} * d;
      const float inv = 1.0f / std::sqrt(ss[r] / static_cast<float>(d) + eps);
      float* yr = y + int64_t{t0 + r} * d;
      for (int c = 0; c < d; ++c) yr[c] = xr[c] * inv * gain[c];
    }
  }
}

// qat/ops_attention.cpp rope: pairs (x[2i], x[2i+1]) of each head rotate by pos * theta^(-2i/D).
void rope(float* x, int64_t ld, int n, int p0, int heads, int D, const float* cs, const float* sn) {
  const int half = D / 2;
  for (int t = 0; t < n; ++t) {
    const float* c = cs + int64_t{p0 + t} * half;
    const float* s = sn + int64_t{p0 + t} * half;
    for (int h = 0; h < heads; ++h) {
      float* v = x + t * ld + h * D;
      for (int i = 0; i < half; ++i) {
        const float x0 = v[2 * i], x1 = v[2 * i + 1];
        v[2 * i] = x0 * c[i] - x1 * s[i];
        v[2 * i + 1] = x0 * s[i] + x1 * c[i];
      }
    }
  }
}

void add_rows(float* x, const float* y, int n, int d) {
  for (int64_t i = 0; i < int64_t{n} * d; ++i) x[i] += y[i];
}

bool needs_fake_quant(const std::vector<const Linear*>& parts, const ActQuant& p) {
  if (!p.quantized()) return false;
  for (const Linear* w : parts) {
    if (w->format != WeightFormat::kPacked) return true;
  }
  return false;
}

}  // namespace

Session::Session(const Model& model, k::Context& ctx, const SessionOptions& o)
    : model_(model), ctx_(ctx), quant_(row_quantizer(ctx)) {
  const Architecture& a = model.arch();
  max_context_ = o.max_context > 0 ? o.max_context : a.max_seq;
  max_chunk_ = o.max_chunk > 0 ? o.max_chunk : std::min(max_context_, a.max_seq);
  if (max_context_ > (1 << 22) || max_chunk_ > max_context_) {
    throw ConfigError("session: max_chunk " + std::to_string(max_chunk_) +
                      " must not exceed max_context " + std::to_string(max_context_) +
                      " (at most 2^22)");
  }
  logits_cap_ = o.all_logits ? max_chunk_ : 1;
  bool need_fq = false;
  for (const Layer& L : model.layers()) {
    Parts p;
    for (const Linear& w : L.qkv) p.qkv.push_back(&w);
    p.o.push_back(&L.o);
    for (const Linear& w : L.gate_up) p.gate_up.push_back(&w);
    p.down.push_back(&L.down);
    need_fq = need_fq || needs_fake_quant(p.qkv, L.qkv_in) || needs_fake_quant(p.o, L.o_in) ||
              needs_fake_quant(p.gate_up, L.gate_up_in) || needs_fake_quant(p.down, L.down_in);
    parts_.push_back(std::move(p));
  }
  head_.push_back(&model.embed());
  need_fq = need_fq || (a.kind == ModelKind::kCausalLm && needs_fake_quant(head_, model.head_in()));
  size_t total = 0;
  carve(nullptr, &total, need_fq);
  arena_.resize(total);
  carve(arena_.data(), &total, need_fq);
  reserve_acts(max_chunk_, a.d_model, &qa_d_);
  reserve_acts(max_chunk_, a.d_ff, &qa_ff_);

  // RoPE table in double, as the QAT engine builds it.
  const int D = a.head_dim(), half = D / 2;
  for (int t = 0; t < max_context_; ++t) {
    for (int i = 0; i < half; ++i) {
      const double freq = std::pow(static_cast<double>(a.rope_theta), -2.0 * i / D);
      const double ang = static_cast<double>(t) * freq;
      rope_cos_[int64_t{t} * half + i] = static_cast<float>(std::cos(ang));
      rope_sin_[int64_t{t} * half + i] = static_cast<float>(std::sin(ang));
    }
  }

  // KV cache: int8 codes + a scale per token where k.out / v.out are quantized, else float.
  const auto N = static_cast<size_t>(max_context_);
  const auto d = static_cast<size_t>(a.d_model);
  for (int pass = 0; pass < 2; ++pass) {
    uint8_t* base = pass ? kv_.data() : nullptr;
    size_t at = 0;
    k_cache_.assign(model.layers().size(), Cache{});
    v_cache_.assign(model.layers().size(), Cache{});
    for (size_t l = 0; l < model.layers().size(); ++l) {
      const Layer& L = model.layers()[l];
      for (auto [c, q] : {std::pair{&k_cache_[l], L.k_out.quantized()},
                          std::pair{&v_cache_[l], L.v_out.quantized()}}) {
        if (q) {
          c->q = take<int8_t>(base, &at, N * d);
          c->scale = take<float>(base, &at, N);
        } else {
          c->f = take<float>(base, &at, N * d);
        }
      }
    }
    if (!pass) kv_.resize(at);
    kv_bytes_ = static_cast<int64_t>(at);
  }
  reset();
}

void Session::carve(uint8_t* base, size_t* total, bool need_fq) {
  const Architecture& a = model_.arch();
  const auto C = static_cast<size_t>(max_chunk_);
  const auto N = static_cast<size_t>(max_context_);
  const auto d = static_cast<size_t>(a.d_model);
  const auto ff = static_cast<size_t>(a.d_ff);
  const auto H = static_cast<size_t>(a.n_heads);
  const size_t L = model_.layers().size();
  bool q_codes = false;
  for (const Layer& l : model_.layers()) q_codes = q_codes || l.q_out.quantized();
  size_t at = 0;
  x_ = take<float>(base, &at, C * d);
  h_ = take<float>(base, &at, C * d);
  qkv_ = take<float>(base, &at, C * 3 * d);
  att_ = take<float>(base, &at, C * d);
  gu_ = take<float>(base, &at, C * 2 * ff);
  out_ = take<float>(base, &at, C * d);
  fq_ = take<float>(base, &at, need_fq ? C * std::max(d, ff) : 0);
  probs_ = take<float>(base, &at, C * H * N);
  score_ = take<float>(base, &at, C);
  const bool lm = a.kind == ModelKind::kCausalLm;
  logits_ = take<float>(base, &at, lm ? static_cast<size_t>(logits_cap_) * a.vocab_size : 0);
  rope_cos_ = take<float>(base, &at, N * a.head_dim() / 2);
  rope_sin_ = take<float>(base, &at, N * a.head_dim() / 2);
  pooled_ = take<float>(base, &at, lm ? 0 : d);
  cls_logits_ = take<float>(base, &at, lm ? 0 : a.n_classes);
  cls_probs_ = take<float>(base, &at, lm ? 0 : a.n_classes);
  qcodes_ = take<int8_t>(base, &at, q_codes ? C * d : 0);
  qscales_ = take<float>(base, &at, q_codes ? C : 0);
  scores_ = take<float>(base, &at, L * N);
  high_ = take<uint8_t>(base, &at, L * N);
  *total = at;
}

void Session::reset() {
  pos_ = 0;
  std::fill(high_, high_ + model_.layers().size() * static_cast<size_t>(max_context_), uint8_t{1});
}

size_t Session::cls_count() const {
  return model_.arch().kind == ModelKind::kClassifier ? static_cast<size_t>(model_.arch().n_classes)
                                                      : 0;
}

bool Session::token_high(int layer, int t) const {
  if (layer < 0 || layer >= static_cast<int>(model_.layers().size()) || t < 0 || t >= pos_) {
    throw RuntimeError("token_high: layer " + std::to_string(layer) + " token " +
                       std::to_string(t) + " is not cached");
  }
  return high_[int64_t{layer} * max_context_ + t] != 0;
}

float Session::token_score(int layer, int t) const {
  (void)token_high(layer, t);  // bounds
  return scores_[int64_t{layer} * max_context_ + t];
}

MemoryUse Session::memory() const {
  return {model_.weight_bytes(), kv_bytes_,
          static_cast<int64_t>(arena_.size()) + acts_bytes(qa_d_) + acts_bytes(qa_ff_)};
}

std::string Session::kernels_joined() const {
  std::string s;
  for (const auto& k : kernels_) s += (s.empty() ? "" : "+") + k;
  return s;
}

void Session::note_kernel() {
  const std::string& name = ctx_.last_kernel();
  // Context::last_kernel joins the kernels of one mixed call with '+'.
  size_t b = 0;
  while (b <= name.size()) {
    size_t e = name.find('+', b);
    if (e == std::string::npos) e = name.size();
    const std::string_view part(name.data() + b, e - b);
    if (!part.empty() && std::find(kernels_.begin(), kernels_.end(), part) == kernels_.end()) {
      kernels_.emplace_back(part);
    }
    b = e + 1;
  }
}

void Session::check_ids(std::span<const int32_t> ids) const {
  const int v = model_.arch().vocab_size;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= v) {
      throw RuntimeError("token id " + std::to_string(ids[i]) + " at position " +
                         std::to_string(i) + " is outside the vocabulary of " + std::to_string(v));
    }
  }
}

void Session::embed_rows(const int32_t* ids, int n) {
  const Linear& e = model_.embed();
  const int d = model_.arch().d_model;
  for (int t = 0; t < n; ++t) {
    float* x = x_ + int64_t{t} * d;
    const int64_t row = ids[t];
    if (e.format == WeightFormat::kFp32) {
      std::memcpy(x, e.f32.data() + row * d, static_cast<size_t>(d) * 4);
    } else if (e.format == WeightFormat::kFp16) {
      for (int c = 0; c < d; ++c) x[c] = k::half_to_float(e.f16[static_cast<size_t>(row * d + c)]);
    } else {
      const float s = e.packed.scales[static_cast<size_t>(
          k::scale_index(e.packed.layout, static_cast<int>(row), 0))];
      for (int c = 0; c < d; ++c)
        x[c] = s * static_cast<float>(k::packed_get(e.packed, static_cast<int>(row), c));
    }
  }
}

void Session::linears(const std::vector<const Linear*>& parts, const ActQuant& point,
                      const uint8_t* high, int n, const LinearIo& io) {
  bool any_int = false, any_float = false;
  for (const Linear* w : parts) (w->format == WeightFormat::kPacked ? any_int : any_float) = true;
  k::QuantizedActivations& qa = io.cols == model_.arch().d_model ? qa_d_ : qa_ff_;
  if (any_int) quantize_rows(point, io.x, n, io.cols, io.ldx, high, &qa, quant_);
  const float* xf = io.x;
  int64_t ldxf = io.ldx;
  if (any_float && point.quantized()) {
    fake_quantize(point, io.x, n, io.cols, io.ldx, high, fq_, io.cols, quant_);
    xf = fq_;
    ldxf = io.cols;
  }
  int off = 0;
  for (const Linear* w : parts) {
    float* y = io.y + off;
    if (w->format == WeightFormat::kPacked) {
      k::matmul(ctx_, w->packed, qa, y, io.ldy);
    } else if (w->format == WeightFormat::kFp32) {
      k::matmul_fp32(ctx_, w->f32.data(), w->rows, w->cols, xf, n, ldxf, y, io.ldy);
    } else {
      k::matmul_fp16(ctx_, w->f16.data(), w->rows, w->cols, xf, n, ldxf, y, io.ldy);
    }
    note_kernel();
    off += w->rows;
  }
}

void Session::decide(int l, int n) {
  const int64_t N = max_context_;
  uint8_t* cur = high_ + l * N + p0_;
  float* seen = scores_ + l * N;
  for (int t = 0; t < n; ++t) seen[p0_ + t] = score_[t];
  const TokenPolicy& pol = model_.policy();
  if (!forced_.empty()) {
    const auto& f = forced_.at(static_cast<size_t>(l));
    for (int t = 0; t < n; ++t) {
      const auto p = static_cast<size_t>(p0_) + static_cast<size_t>(t);
      cur[t] = p < f.size() ? f[p] : 1;
    }
  } else if (!pol.any_adaptive) {
    std::fill(cur, cur + n, uint8_t{1});
  } else if (p0_ == 0) {
    top_fraction_mask(score_, n, pol.high_fraction, cur);
  } else {
    for (int t = 0; t < n; ++t) {
      cur[t] = decode_high(seen, p0_ + t + 1, score_[t], pol.high_fraction) ? 1 : 0;
    }
  }
}

void Session::layer_forward(int l, int n) {
  const Architecture& a = model_.arch();
  const Layer& L = model_.layers()[static_cast<size_t>(l)];
  const int d = a.d_model, ff = a.d_ff, D = a.head_dim();
  const int64_t N = max_context_;
  const bool adaptive = model_.policy().any_adaptive || !forced_.empty();
  const uint8_t* prev = l == 0 || !adaptive ? nullptr : high_ + (l - 1) * N + p0_;
  const uint8_t* cur = adaptive ? high_ + l * N + p0_ : nullptr;
  const Parts& P = parts_[static_cast<size_t>(l)];

  rms_norm(x_, L.attn_norm.data(), n, d, a.norm_eps, h_);
  linears(P.qkv, L.qkv_in, prev, n, {h_, d, d, qkv_, 3 * d});
  rope(qkv_, 3 * d, n, p0_, a.n_heads, D, rope_cos_, rope_sin_);
  rope(qkv_ + d, 3 * d, n, p0_, a.n_heads, D, rope_cos_, rope_sin_);

  AttnRows qr{qkv_, nullptr, nullptr, 3 * d};
  if (L.q_out.quantized()) {
    quantize_codes(L.q_out, qkv_, n, d, 3 * d, prev, qcodes_, d, qscales_, quant_);
    qr = {nullptr, qcodes_, qscales_, d};
  }
  const Cache& kc = k_cache_[static_cast<size_t>(l)];
  if (kc.q) {
    quantize_codes(L.k_out, qkv_ + d, n, d, 3 * d, prev, kc.q + p0_ * d, d, kc.scale + p0_, quant_);
  } else {
    for (int t = 0; t < n; ++t) std::memcpy(kc.f + (p0_ + t) * d, qkv_ + t * 3 * d + d, d * 4);
  }
  const AttnRows kr{kc.f, kc.q, kc.scale, d};
  const AttnShape s{n, p0_, a.n_heads, D, causal_, max_context_};
  attention_probs(ctx_, s, qr, kr, probs_, score_);
  decide(l, n);

  const Cache& vc = v_cache_[static_cast<size_t>(l)];
  if (vc.q) {
    quantize_codes(L.v_out, qkv_ + 2 * d, n, d, 3 * d, cur, vc.q + p0_ * d, d, vc.scale + p0_,
                   quant_);
  } else {
    for (int t = 0; t < n; ++t) std::memcpy(vc.f + (p0_ + t) * d, qkv_ + t * 3 * d + 2 * d, d * 4);
  }
  if (L.probs_quantized) quantize_probs(ctx_, s, probs_);
  attention_apply(ctx_, s, probs_, AttnRows{vc.f, vc.q, vc.scale, d}, att_, d);
  linears(P.o, L.o_in, cur, n, {att_, d, d, out_, d});
  add_rows(x_, out_, n, d);

  rms_norm(x_, L.mlp_norm.data(), n, d, a.norm_eps, h_);
  linears(P.gate_up, L.gate_up_in, cur, n, {h_, d, d, gu_, 2 * ff});
  const AttnOps& ops = attn_ops(ctx_);
  for (int t = 0; t < n; ++t) {
    float* g = gu_ + int64_t{t} * 2 * ff;
    ops.swiglu(g, g + ff, ff);
  }
  linears(P.down, L.down_in, cur, n, {gu_, 2 * ff, ff, out_, d});
  add_rows(x_, out_, n, d);
}

void Session::forward(const int32_t* ids, int n, bool causal, int logits_rows) {
  p0_ = pos_;
  causal_ = causal;
  embed_rows(ids, n);
  for (int l = 0; l < static_cast<int>(model_.layers().size()); ++l) layer_forward(l, n);
  pos_ += n;
  if (logits_rows > 0) {
    const int d = model_.arch().d_model;
    rms_norm(x_ + int64_t{n - logits_rows} * d, model_.final_norm().data(), logits_rows, d,
             model_.arch().norm_eps, h_);
    linears(head_, model_.head_in(), nullptr, logits_rows,
            {h_, d, d, logits_, model_.arch().vocab_size});
  }
}

std::span<const float> Session::prefill(std::span<const int32_t> ids, bool all_logits) {
  const Architecture& a = model_.arch();
  if (a.kind != ModelKind::kCausalLm)
    throw RuntimeError("prefill/decode need a causal_lm model; use classify");
  const int n = static_cast<int>(ids.size());
  if (n == 0) throw RuntimeError("prefill of an empty token sequence");
  if (pos_ + n > max_context_) {
    throw RuntimeError("context full: " + std::to_string(pos_) + " cached + " + std::to_string(n) +
                       " new tokens exceed max_context " + std::to_string(max_context_));
  }
  if (all_logits && (logits_cap_ < n)) {
    throw RuntimeError("prefill with all logits of " + std::to_string(n) +
                       " tokens needs SessionOptions::all_logits and n <= max_chunk " +
                       std::to_string(max_chunk_));
  }
  check_ids(ids);
  for (int off = 0; off < n; off += max_chunk_) {
    const int m = std::min(max_chunk_, n - off);
    forward(ids.data() + off, m, true, all_logits ? m : (off + m == n ? 1 : 0));
  }
  return {logits_, static_cast<size_t>(all_logits ? n : 1) * a.vocab_size};
}

std::span<const float> Session::decode(int32_t id) {
  return prefill(std::span<const int32_t>(&id, 1));
}

std::span<const float> Session::classify(std::span<const int32_t> ids) {
  const Architecture& a = model_.arch();
  if (a.kind != ModelKind::kClassifier) throw RuntimeError("classify needs a classifier model");
  const int n = static_cast<int>(ids.size());
  if (n == 0 || n > max_chunk_) {
    throw RuntimeError("classify takes 1 to " + std::to_string(max_chunk_) + " tokens, got " +
                       std::to_string(n));
  }
  check_ids(ids);
  reset();
  forward(ids.data(), n, false, 0);
  const int d = a.d_model;
  rms_norm(x_, model_.final_norm().data(), n, d, a.norm_eps, h_);
  for (int c = 0; c < d; ++c) {
    float s = 0.0f;
    for (int t = 0; t < n; ++t) s += h_[int64_t{t} * d + c];
    pooled_[c] = s / static_cast<float>(n);
  }
  k::matmul_fp32(ctx_, model_.cls_head().f32.data(), a.n_classes, d, pooled_, 1, d, cls_logits_,
                 a.n_classes, model_.cls_bias().data());
  note_kernel();
  float mx = -INFINITY, z = 0.0f;
  for (int c = 0; c < a.n_classes; ++c) mx = std::max(mx, cls_logits_[c]);
  for (int c = 0; c < a.n_classes; ++c) z += cls_probs_[c] = std::exp(cls_logits_[c] - mx);
  for (int c = 0; c < a.n_classes; ++c) cls_probs_[c] /= z;
  return {cls_probs_, static_cast<size_t>(a.n_classes)};
}

}  // namespace hilq::runtime
