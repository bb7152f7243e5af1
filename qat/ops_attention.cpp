// Attention ops: per-(batch, head) products on strided blocks (no head permutation copies),
// masked softmax, rotary embedding, and the statistics the Squat losses need.
#include <cmath>
#include <string>

#include "qat/ops.h"

namespace hilq::qat {
namespace {

void check_heads(const Var& x, const AttnShape& s, const char* op) {
  if (x->rows() != s.batch * s.seq || x->cols() != s.heads * s.head_dim) {
    throw QatError(std::string(op) + ": expected " + std::to_string(s.batch * s.seq) + "x" +
                   std::to_string(s.heads * s.head_dim) + ", got " + std::to_string(x->rows()) +
                   "x" + std::to_string(x->cols()));
  }
}

void check_map(const Var& p, const AttnShape& s, const char* op) {
  if (p->rows() != s.batch * s.heads * s.seq || p->cols() != s.seq) {
    throw QatError(std::string(op) + ": expected a " + std::to_string(s.batch * s.heads * s.seq) +
                   "x" + std::to_string(s.seq) + " attention map, got " +
                   std::to_string(p->rows()) + "x" + std::to_string(p->cols()));
  }
}

constexpr double kTiny = 1e-30;  // an all-zero map has cosine 0, not NaN

int valid_len(const AttnMask& m, const AttnShape& s, int b) {
  return m.lengths.empty() ? s.seq : m.lengths[static_cast<size_t>(b)];
}

}  // namespace

Var attention_scores(const Var& q, const Var& k, const AttnShape& s, float scale) {
  check_heads(q, s, "attention_scores(q)");
  check_heads(k, s, "attention_scores(k)");
  const int T = s.seq, D = s.head_dim, H = s.heads, n = s.batch * s.heads;
  Mat out(static_cast<Eigen::Index>(n) * T, T);
#pragma omp parallel for schedule(static) if (n > 1)
  for (int bh = 0; bh < n; ++bh) {
    const int b = bh / H, h = bh % H;
    out.block(bh * T, 0, T, T).noalias() =
        scale * q->value.block(b * T, h * D, T, D) * k->value.block(b * T, h * D, T, D).transpose();
  }
  return make_node(std::move(out), {q, k}, [q, k, s, scale](Node& self) {
    const int T = s.seq, D = s.head_dim, H = s.heads, n = s.batch * s.heads;
    Mat* gq = q->requires_grad ? &q->grad_ref() : nullptr;
    Mat* gk = k->requires_grad ? &k->grad_ref() : nullptr;
#pragma omp parallel for schedule(static) if (n > 1)
    for (int bh = 0; bh < n; ++bh) {
      const int b = bh / H, h = bh % H;
      auto g = self.grad.block(bh * T, 0, T, T);
      if (gq)
        gq->block(b * T, h * D, T, D).noalias() += scale * g * k->value.block(b * T, h * D, T, D);
      if (gk) {
        gk->block(b * T, h * D, T, D).noalias() +=
            scale * g.transpose() * q->value.block(b * T, h * D, T, D);
      }
    }
  });
}

Var masked_softmax(const Var& scores, const AttnShape& s, const AttnMask& mask) {
  check_map(scores, s, "masked_softmax");
  const int T = s.seq, H = s.heads, rows = scores->rows();
  Mat out = Mat::Zero(rows, T);
#pragma omp parallel for schedule(static) if (rows > 256)
  for (int r = 0; r < rows; ++r) {
    const int b = r / (H * T), i = r % T;
    float mx = -INFINITY;
    for (int j = 0; j < T; ++j) {
      if (mask.allowed(b, i, j)) mx = std::max(mx, scores->value(r, j));
    }
    if (mx == -INFINITY) continue;  // no allowed key: the row stays zero
    float z = 0.0f;
    for (int j = 0; j < T; ++j) {
      if (mask.allowed(b, i, j)) {
        const float e = std::exp(scores->value(r, j) - mx);
        out(r, j) = e;
        z += e;
      }
    }
    out.row(r) /= z;
  }
  return make_node(std::move(out), {scores}, [scores](Node& self) {
    // dS = P .* (dP - rowsum(dP .* P)); masked entries have P = 0 and get no gradient.
    const Mat& p = self.value;
    Vec dot = self.grad.cwiseProduct(p).rowwise().sum();
    scores->grad_ref().array() += p.array() * (self.grad.colwise() - dot).array();
  });
}

Var attention_apply(const Var& probs, const Var& v, const AttnShape& s) {
  check_map(probs, s, "attention_apply(probs)");
  check_heads(v, s, "attention_apply(v)");
  const int T = s.seq, D = s.head_dim, H = s.heads, n = s.batch * s.heads;
  Mat out(static_cast<Eigen::Index>(s.batch) * T, H * D);
#pragma omp parallel for schedule(static) if (n > 1)
  for (int bh = 0; bh < n; ++bh) {
    const int b = bh / H, h = bh % H;
    out.block(b * T, h * D, T, D).noalias() =
        probs->value.block(bh * T, 0, T, T) * v->value.block(b * T, h * D, T, D);
  }
  return make_node(std::move(out), {probs, v}, [probs, v, s](Node& self) {
    const int T = s.seq, D = s.head_dim, H = s.heads, n = s.batch * s.heads;
    Mat* gp = probs->requires_grad ? &probs->grad_ref() : nullptr;
    Mat* gv = v->requires_grad ? &v->grad_ref() : nullptr;
#pragma omp parallel for schedule(static) if (n > 1)
    for (int bh = 0; bh < n; ++bh) {
      const int b = bh / H, h = bh % H;
      auto g = self.grad.block(b * T, h * D, T, D);
      if (gp)
        gp->block(bh * T, 0, T, T).noalias() += g * v->value.block(b * T, h * D, T, D).transpose();
      if (gv) {
        gv->block(b * T, h * D, T, D).noalias() +=
            probs->value.block(bh * T, 0, T, T).transpose() * g;
      }
    }
  });
}

namespace {
// cos/sin table: (seq) x (head_dim/2).
void rope_table(const AttnShape& s, float theta, int offset, Mat* c, Mat* sn) {
  const int half = s.head_dim / 2;
  c->resize(s.seq, half);
  sn->resize(s.seq, half);
  for (int t = 0; t < s.seq; ++t) {
    for (int i = 0; i < half; ++i) {
      const double freq = std::pow(static_cast<double>(theta), -2.0 * i / s.head_dim);
      const double a = static_cast<double>(t + offset) * freq;
      (*c)(t, i) = static_cast<float>(std::cos(a));
      (*sn)(t, i) = static_cast<float>(std::sin(a));
    }
  }
}

// Rotates pairs by +angle (sign = 1) or -angle (sign = -1), in place on dst from src.
void rope_rotate(const Mat& src, Mat* dst, const AttnShape& s, const Mat& c, const Mat& sn,
                 float sign) {
  const int half = s.head_dim / 2;
  const int rows = static_cast<int>(src.rows());
  for (int r = 0; r < rows; ++r) {
    const int t = r % s.seq;
    for (int h = 0; h < s.heads; ++h) {
      const float* x = src.data() + static_cast<Eigen::Index>(r) * src.cols() + h * s.head_dim;
      float* y = dst->data() + static_cast<Eigen::Index>(r) * dst->cols() + h * s.head_dim;
      for (int i = 0; i < half; ++i) {
        const float cs = c(t, i), sv = sign * sn(t, i);
        const float x0 = x[2 * i], x1 = x[2 * i + 1];
        y[2 * i] += x0 * cs - x1 * sv;
        y[2 * i + 1] += x0 * sv + x1 * cs;
      }
    }
  }
}
}  // namespace

Var rope(const Var& x, const AttnShape& s, float theta, int offset) {
  check_heads(x, s, "rope");
  if (s.head_dim % 2 != 0) {
    throw QatError("rope: head_dim " + std::to_string(s.head_dim) + " must be even");
  }
  Mat c, sn;
  rope_table(s, theta, offset, &c, &sn);
  Mat out = Mat::Zero(x->rows(), x->cols());
  rope_rotate(x->value, &out, s, c, sn, 1.0f);
  return make_node(std::move(out), {x}, [x, s, c = std::move(c), sn = std::move(sn)](Node& self) {
    rope_rotate(self.grad, &x->grad_ref(), s, c, sn, -1.0f);
  });
}

Var head_variance(const Var& x, const AttnShape& s) {
  check_heads(x, s, "head_variance");
  const int D = s.head_dim;
  const double n = static_cast<double>(x->rows()) * D;
  Mat out(1, s.heads);
  Vec mu(s.heads);
  for (int h = 0; h < s.heads; ++h) {
    auto blk = x->value.middleCols(h * D, D).cast<double>();
    const double m = blk.sum() / n;
    out(0, h) = static_cast<float>(blk.array().square().sum() / n - m * m);
    mu(h) = static_cast<float>(m);
  }
  return make_node(std::move(out), {x}, [x, s, mu, n](Node& self) {
    const int D = s.head_dim;
    for (int h = 0; h < s.heads; ++h) {
      const auto g = static_cast<float>(2.0 * self.grad(0, h) / n);
      x->grad_ref().middleCols(h * D, D).array() +=
          g * (x->value.middleCols(h * D, D).array() - mu(h));
    }
  });
}

Var token_variance(const Var& x, const AttnShape& s) {
  check_heads(x, s, "token_variance");
  const int D = s.head_dim, H = s.heads;
  if (D < 2) throw QatError("token_variance: head_dim must be >= 2 (the divisor is head_dim - 1)");
  const Eigen::Index n = x->rows();
  Mat out(n, H), mu(n, H);
  for (Eigen::Index r = 0; r < n; ++r) {
    for (int h = 0; h < H; ++h) {
      auto v = x->value.row(r).segment(h * D, D).cast<double>();
      const double m = v.sum() / D;
      out(r, h) = static_cast<float>((v.array() - m).square().sum() / (D - 1));
      mu(r, h) = static_cast<float>(m);
    }
  }
  return make_node(std::move(out), {x}, [x, s, mu](Node& self) {
    const int D = s.head_dim;
    Mat& g = x->grad_ref();
    const float c = 2.0f / static_cast<float>(D - 1);
    for (Eigen::Index r = 0; r < x->rows(); ++r) {
      for (int h = 0; h < s.heads; ++h) {
        g.row(r).segment(h * D, D).array() +=
            c * self.grad(r, h) * (x->value.row(r).segment(h * D, D).array() - mu(r, h));
      }
    }
  });
}

Var attention_cosine(const Var& student, const Mat& teacher, const AttnShape& s,
                     const AttnMask& mask) {
  check_map(student, s, "attention_cosine");
  if (teacher.rows() != student->rows() || teacher.cols() != student->cols()) {
    throw QatError("attention_cosine: teacher and student maps differ in shape");
  }
  const int T = s.seq, n = s.batch * s.heads;
  // Per (b, h): dot, |S|^2, |T|^2 over the rows of real query tokens.
  Eigen::VectorXd dot(n), ss(n), tt(n);
  for (int bh = 0; bh < n; ++bh) {
    const int len = valid_len(mask, s, bh / s.heads);
    auto S = student->value.block(bh * T, 0, len, T).cast<double>();
    auto Tm = teacher.block(bh * T, 0, len, T).cast<double>();
    dot(bh) = (S.array() * Tm.array()).sum();
    ss(bh) = S.squaredNorm();
    tt(bh) = Tm.squaredNorm();
  }
  double total = 0.0;
  for (int bh = 0; bh < n; ++bh) total += dot(bh) / std::sqrt(std::max(ss(bh) * tt(bh), kTiny));
  Mat out(1, 1);
  out(0, 0) = static_cast<float>(total / n);
  return make_node(std::move(out), {student},
                   [student, teacher, s, mask, dot, ss, tt, n, T](Node& self) {
                     Mat& g = student->grad_ref();
                     const double up = self.grad(0, 0) / n;
                     for (int bh = 0; bh < n; ++bh) {
                       const int len = valid_len(mask, s, bh / s.heads);
                       const double norm = std::sqrt(std::max(ss(bh) * tt(bh), kTiny));
                       const double cs = dot(bh) / norm;
                       const double a = up / norm, b = up * cs / std::max(ss(bh), kTiny);
                       g.block(bh * T, 0, len, T) +=
                           (static_cast<float>(a) * teacher.block(bh * T, 0, len, T) -
                            static_cast<float>(b) * student->value.block(bh * T, 0, len, T));
                     }
                   });
}

Var mean_pool(const Var& x, int batch, int seq, const std::vector<int>& lengths) {
  if (x->rows() != batch * seq || static_cast<int>(lengths.size()) != batch) {
    throw QatError("mean_pool: expected " + std::to_string(batch * seq) + " rows and " +
                   std::to_string(batch) + " lengths");
  }
  Mat out(batch, x->cols());
  for (int b = 0; b < batch; ++b) {
    const int len = std::max(1, std::min(seq, lengths[static_cast<size_t>(b)]));
    out.row(b) = x->value.block(b * seq, 0, len, x->cols()).colwise().mean();
  }
  return make_node(std::move(out), {x}, [x, batch, seq, lengths](Node& self) {
    Mat& g = x->grad_ref();
    for (int b = 0; b < batch; ++b) {
      const int len = std::max(1, std::min(seq, lengths[static_cast<size_t>(b)]));
      g.block(b * seq, 0, len, x->cols()).rowwise() += self.grad.row(b) / static_cast<float>(len);
    }
  });
}

}  // namespace hilq::qat
