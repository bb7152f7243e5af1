// Reverse-mode automatic differentiation over row-major Eigen float matrices: the engine every
// model, loss and quantizer in qat/ is built on.
//
// Glossary
//   Var      shared handle to a Node: a value (rows x cols), its gradient, and how to push that
//            gradient to the parents it was computed from.
//   leaf     a Var without parents: a parameter (requires_grad) or a constant input.
//   backward reverse topological walk from a scalar loss; gradients accumulate (+=) into leaves
//            until the optimizer zeroes them.
//   NoGrad   scope in which new nodes record no parents (evaluation, the frozen teacher).
//
// Tensors of higher rank are stored as matrices: activations are (batch*seq) x features, attention
// maps are (batch*heads*seq) x seq; ops that need the split take the dimensions as arguments.
#pragma once

#include <Eigen/Core>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "qat/errors.h"

namespace hilq::qat {

using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vec = Eigen::VectorXf;

struct Node;
using Var = std::shared_ptr<Node>;

struct Node {
  Mat value;
  Mat grad;  // empty until the first gradient arrives; then value's shape
  bool requires_grad = false;
  std::vector<Var> parents;
  // Reads self.grad and accumulates into the parents' grads (only those that require grad).
  std::function<void(Node& self)> backward_fn;
  std::string name;  // parameters only, for checkpoints and error messages

  int rows() const { return static_cast<int>(value.rows()); }
  int cols() const { return static_cast<int>(value.cols()); }
  // Returns grad, allocating zeros of value's shape on first use.
  Mat& grad_ref();
  float scalar() const { return value(0, 0); }
};

// A constant input (no gradient).
Var constant(Mat value);
// A trainable leaf.
Var parameter(Mat value, std::string name = {});
// A 1x1 constant.
Var scalar_constant(float v);

// Builds a node from parents; records parents and backward only when some parent requires grad
// and gradient recording is on.
Var make_node(Mat value, std::vector<Var> parents, std::function<void(Node&)> backward_fn);

// Seeds d(loss)/d(loss) = 1 and runs the backward pass. loss must be 1x1.
void backward(const Var& loss);

// While alive, new nodes record no graph (thread-local).
class NoGrad {
 public:
  NoGrad();
  ~NoGrad();
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool previous_;
};
bool grad_enabled();

// Accumulates g into v's gradient when v requires it.
inline void accumulate(const Var& v, const Mat& g) {
  if (v->requires_grad) v->grad_ref() += g;
}

// Sets the number of threads Eigen's matrix products (and qat's batched loops) may use.
void set_num_threads(int n);
int num_threads();

}  // namespace hilq::qat
