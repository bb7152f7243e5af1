// Linear algebra, broadcasting, elementwise, reductions, norms, embedding and dropout ops.
#include <cmath>
#include <string>

#include "qat/ops.h"

namespace hilq::qat {
namespace {

void require_same(const Var& a, const Var& b, const char* op) {
  if (a->rows() != b->rows() || a->cols() != b->cols()) {
    throw QatError(std::string(op) + ": shapes differ: " + std::to_string(a->rows()) + "x" +
                   std::to_string(a->cols()) + " vs " + std::to_string(b->rows()) + "x" +
                   std::to_string(b->cols()));
  }
}

void require_row(const Var& a, const Var& row, const char* op) {
  if (row->rows() != 1 || row->cols() != a->cols()) {
    throw QatError(std::string(op) + ": expected a 1x" + std::to_string(a->cols()) + " row, got " +
                   std::to_string(row->rows()) + "x" + std::to_string(row->cols()));
  }
}

constexpr float kC = 0.7978845608028654f;  // sqrt(2/pi), GELU's tanh approximation
constexpr float kA = 0.044715f;

}  // namespace

Var matmul(const Var& a, const Var& b) {
  if (a->cols() != b->rows()) {
    throw QatError("matmul: inner dimensions differ: " + std::to_string(a->cols()) + " vs " +
                   std::to_string(b->rows()));
  }
  Mat out(a->rows(), b->cols());
  out.noalias() = a->value * b->value;
  return make_node(std::move(out), {a, b}, [a, b](Node& self) {
    if (a->requires_grad) a->grad_ref().noalias() += self.grad * b->value.transpose();
    if (b->requires_grad) b->grad_ref().noalias() += a->value.transpose() * self.grad;
  });
}

Var linear(const Var& x, const Var& w) {
  if (x->cols() != w->cols()) {
    throw QatError("linear: input has " + std::to_string(x->cols()) + " features, weight expects " +
                   std::to_string(w->cols()));
  }
  Mat out(x->rows(), w->rows());
  out.noalias() = x->value * w->value.transpose();
  return make_node(std::move(out), {x, w}, [x, w](Node& self) {
    if (x->requires_grad) x->grad_ref().noalias() += self.grad * w->value;
    if (w->requires_grad) w->grad_ref().noalias() += self.grad.transpose() * x->value;
  });
}

Var add(const Var& a, const Var& b) {
  require_same(a, b, "add");
  return make_node(a->value + b->value, {a, b}, [a, b](Node& self) {
    accumulate(a, self.grad);
    accumulate(b, self.grad);
  });
}

Var sub(const Var& a, const Var& b) {
  require_same(a, b, "sub");
  return make_node(a->value - b->value, {a, b}, [a, b](Node& self) {
    accumulate(a, self.grad);
    if (b->requires_grad) b->grad_ref() -= self.grad;
  });
}

Var mul(const Var& a, const Var& b) {
  require_same(a, b, "mul");
  Mat out = a->value.cwiseProduct(b->value);
  return make_node(std::move(out), {a, b}, [a, b](Node& self) {
    if (a->requires_grad) a->grad_ref() += self.grad.cwiseProduct(b->value);
    if (b->requires_grad) b->grad_ref() += self.grad.cwiseProduct(a->value);
  });
}

Var add_row(const Var& a, const Var& row) {
  require_row(a, row, "add_row");
  Mat out = a->value.rowwise() + row->value.row(0);
  return make_node(std::move(out), {a, row}, [a, row](Node& self) {
    accumulate(a, self.grad);
    if (row->requires_grad) row->grad_ref() += self.grad.colwise().sum();
  });
}

Var mul_row(const Var& a, const Var& row) {
  require_row(a, row, "mul_row");
  Mat out = a->value.array().rowwise() * row->value.row(0).array();
  return make_node(std::move(out), {a, row}, [a, row](Node& self) {
    if (a->requires_grad) {
      a->grad_ref().array() += self.grad.array().rowwise() * row->value.row(0).array();
    }
    if (row->requires_grad) {
      row->grad_ref() += self.grad.cwiseProduct(a->value).colwise().sum();
    }
  });
}

Var scale(const Var& a, float s) {
  return make_node(a->value * s, {a}, [a, s](Node& self) {
    if (a->requires_grad) a->grad_ref() += self.grad * s;
  });
}

Var add_scalar(const Var& a, float s) {
  Mat out = a->value.array() + s;
  return make_node(std::move(out), {a}, [a](Node& self) { accumulate(a, self.grad); });
}

Var silu(const Var& x) {
  Mat sig = (1.0f + (-x->value.array()).exp()).inverse().matrix();
  Mat out = x->value.cwiseProduct(sig);
  return make_node(std::move(out), {x}, [x, sig = std::move(sig)](Node& self) {
    // d/dx x*s(x) = s + x*s*(1-s)
    auto s = sig.array();
    x->grad_ref().array() += self.grad.array() * (s + x->value.array() * s * (1.0f - s));
  });
}

Var gelu(const Var& x) {
  auto xa = x->value.array();
  Mat t = (kC * (xa + kA * xa.cube())).tanh().matrix();
  Mat out = (0.5f * xa * (1.0f + t.array())).matrix();
  return make_node(std::move(out), {x}, [x, t = std::move(t)](Node& self) {
    auto xv = x->value.array();
    auto ta = t.array();
    auto d = 0.5f * (1.0f + ta) +
             0.5f * xv * (1.0f - ta.square()) * kC * (1.0f + 3.0f * kA * xv.square());
    x->grad_ref().array() += self.grad.array() * d;
  });
}

Var log_op(const Var& x) {
  Mat out = x->value.array().log().matrix();
  return make_node(std::move(out), {x}, [x](Node& self) {
    x->grad_ref().array() += self.grad.array() / x->value.array();
  });
}

Var log1p_op(const Var& x) {
  Mat out = x->value.unaryExpr([](float v) { return std::log1p(v); });
  return make_node(std::move(out), {x}, [x](Node& self) {
    x->grad_ref().array() += self.grad.array() / (1.0f + x->value.array());
  });
}

Var sum(const Var& x) {
  Mat out(1, 1);
  out(0, 0) = static_cast<float>(x->value.cast<double>().sum());
  return make_node(std::move(out), {x},
                   [x](Node& self) { x->grad_ref().array() += self.grad(0, 0); });
}

Var mean(const Var& x) {
  const double n = static_cast<double>(x->value.size());
  Mat out(1, 1);
  out(0, 0) = static_cast<float>(x->value.cast<double>().sum() / n);
  return make_node(std::move(out), {x}, [x, n](Node& self) {
    x->grad_ref().array() += static_cast<float>(self.grad(0, 0) / n);
  });
}

Var rms_norm(const Var& x, const Var& gain, float eps) {
  require_row(x, gain, "rms_norm");
  const int n = x->cols();
  Vec inv =
      ((x->value.array().square().rowwise().sum() / static_cast<float>(n)) + eps).rsqrt().matrix();
  Mat xhat = x->value.array().colwise() * inv.array();
  Mat out = xhat.array().rowwise() * gain->value.row(0).array();
  return make_node(std::move(out), {x, gain},
                   [x, gain, inv = std::move(inv), xhat = std::move(xhat), n](Node& self) {
                     if (gain->requires_grad)
                       gain->grad_ref() += self.grad.cwiseProduct(xhat).colwise().sum();
                     if (x->requires_grad) {
                       // dx = inv * (g - xhat * mean(g . xhat)), g = dy * gain
                       Mat g = self.grad.array().rowwise() * gain->value.row(0).array();
                       Vec dot = g.cwiseProduct(xhat).rowwise().sum() / static_cast<float>(n);
                       Mat dx = g - (xhat.array().colwise() * dot.array()).matrix();
                       x->grad_ref() += (dx.array().colwise() * inv.array()).matrix();
                     }
                   });
}

Var layer_norm(const Var& x, const Var& gain, const Var& bias, float eps) {
  require_row(x, gain, "layer_norm");
  require_row(x, bias, "layer_norm");
  const int n = x->cols();
  Vec mu = x->value.rowwise().mean();
  Mat centered = x->value.colwise() - mu;
  Vec inv =
      ((centered.array().square().rowwise().sum() / static_cast<float>(n)) + eps).rsqrt().matrix();
  Mat xhat = centered.array().colwise() * inv.array();
  Mat out =
      (xhat.array().rowwise() * gain->value.row(0).array()).rowwise() + bias->value.row(0).array();
  return make_node(std::move(out), {x, gain, bias},
                   [x, gain, bias, inv = std::move(inv), xhat = std::move(xhat), n](Node& self) {
                     if (gain->requires_grad)
                       gain->grad_ref() += self.grad.cwiseProduct(xhat).colwise().sum();
                     if (bias->requires_grad) bias->grad_ref() += self.grad.colwise().sum();
                     if (x->requires_grad) {
                       // dx = inv * (g - mean(g) - xhat * mean(g . xhat))
                       Mat g = self.grad.array().rowwise() * gain->value.row(0).array();
                       Vec gm = g.rowwise().mean();
                       Vec dot = g.cwiseProduct(xhat).rowwise().sum() / static_cast<float>(n);
                       Mat dx =
                           (g.colwise() - gm) - (xhat.array().colwise() * dot.array()).matrix();
                       x->grad_ref() += (dx.array().colwise() * inv.array()).matrix();
                     }
                   });
}

Var embedding(const Var& table, const std::vector<int32_t>& ids) {
  const int vocab = table->rows();
  Mat out(static_cast<Eigen::Index>(ids.size()), table->cols());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      throw QatError("embedding: id " + std::to_string(ids[i]) + " at position " +
                     std::to_string(i) + " is outside the vocabulary of " + std::to_string(vocab));
    }
    out.row(static_cast<Eigen::Index>(i)) = table->value.row(ids[i]);
  }
  return make_node(std::move(out), {table}, [table, ids](Node& self) {
    Mat& g = table->grad_ref();
    for (size_t i = 0; i < ids.size(); ++i) {
      g.row(ids[i]) += self.grad.row(static_cast<Eigen::Index>(i));
    }
  });
}

Var dropout(const Var& x, float p, uint64_t seed) {
  if (p <= 0.0f) return x;
  if (p >= 1.0f) throw QatError("dropout: rate " + std::to_string(p) + " must be below 1");
  const float keep = 1.0f / (1.0f - p);
  Mat m(x->rows(), x->cols());
  float* md = m.data();
  for (Eigen::Index i = 0; i < m.size(); ++i) {
    md[i] = unit_float(splitmix64(seed ^ (static_cast<uint64_t>(i) * 0xD1B54A32D192ED03ull))) < p
                ? 0.0f
                : keep;
  }
  Mat out = x->value.cwiseProduct(m);
  return make_node(std::move(out), {x}, [x, m = std::move(m)](Node& self) {
    x->grad_ref() += self.grad.cwiseProduct(m);
  });
}

}  // namespace hilq::qat
