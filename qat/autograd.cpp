// Graph bookkeeping of the autograd: node creation, the no-grad scope and the backward walk.
#include "qat/autograd.h"

#include <unordered_set>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace hilq::qat {
namespace {
thread_local bool g_grad_enabled = true;
int g_num_threads = 1;
}  // namespace

Mat& Node::grad_ref() {
  if (grad.size() == 0) grad = Mat::Zero(value.rows(), value.cols());
  return grad;
}

Var constant(Mat value) {
  auto n = std::make_shared<Node>();
  n->value = std::move(value);
  return n;
}

Var parameter(Mat value, std::string name) {
  auto n = std::make_shared<Node>();
  n->value = std::move(value);
  n->requires_grad = true;
  n->name = std::move(name);
  return n;
}

Var scalar_constant(float v) {
  Mat m(1, 1);
  m(0, 0) = v;
  return constant(std::move(m));
}

Var make_node(Mat value, std::vector<Var> parents, std::function<void(Node&)> backward_fn) {
  auto n = std::make_shared<Node>();
  n->value = std::move(value);
  if (!g_grad_enabled) return n;
  bool any = false;
  for (const auto& p : parents) any = any || p->requires_grad;
  if (!any) return n;
  n->requires_grad = true;
  n->parents = std::move(parents);
  n->backward_fn = std::move(backward_fn);
  return n;
}

void backward(const Var& loss) {
  if (loss->rows() != 1 || loss->cols() != 1) {
    throw QatError("backward: the loss must be 1x1, got " + std::to_string(loss->rows()) + "x" +
                   std::to_string(loss->cols()));
  }
  if (!loss->requires_grad) return;
  // Iterative post-order DFS gives a topological order without recursion depth limits.
  std::vector<Node*> order;
  std::unordered_set<Node*> seen;
  std::vector<std::pair<Node*, size_t>> stack{{loss.get(), 0}};
  seen.insert(loss.get());
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->parents.size()) {
      Node* p = node->parents[next++].get();
      if (p->requires_grad && seen.insert(p).second) stack.emplace_back(p, 0);
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }
  loss->grad_ref().setConstant(1.0f);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* n = *it;
    if (n->backward_fn && n->grad.size() != 0) n->backward_fn(*n);
  }
  // Intermediate gradients are not needed after the walk; leaves keep theirs.
  for (Node* n : order) {
    if (!n->parents.empty()) n->grad.resize(0, 0);
  }
}

NoGrad::NoGrad() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGrad::~NoGrad() { g_grad_enabled = previous_; }
bool grad_enabled() { return g_grad_enabled; }

void set_num_threads(int n) {
  g_num_threads = n < 1 ? 1 : n;
  Eigen::setNbThreads(g_num_threads);
#ifdef _OPENMP
  omp_set_num_threads(g_num_threads);
#endif
}
int num_threads() { return g_num_threads; }

namespace {
// One thread unless asked: on a shared 2-core machine OpenMP's spinning threads cost more than
// they gain (measured 3x slower training at 2 threads under load).
const bool g_threads_set = (set_num_threads(1), true);
}  // namespace

}  // namespace hilq::qat
