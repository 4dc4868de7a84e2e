// Define-by-run reverse-mode autograd. Each differentiable op records a Node: its inputs' edges
// and a closure that maps the output's gradient to the inputs' gradients, holding only what
// that backward needs (capture tensors with .detach(), never the op's own output handle, which
// would make a cycle). backward() sorts the graph, walks it in reverse, accumulates into leaf
// .grad (+=, as PyTorch does) and frees each node's closure as soon as it has run.
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <vector>

#include "core/tensor.h"

namespace kdcu {

using Grads = std::vector<Tensor>;
// needs[i] says whether input i wants a gradient; an entry may be left undefined when it does not.
using BackwardFn = std::function<Grads(const Tensor& grad_out, const std::vector<bool>& needs)>;

struct Edge {
  std::shared_ptr<Node> node;        // the producer of a non-leaf input
  std::shared_ptr<TensorImpl> leaf;  // or the leaf input itself
  Shape shape;                       // what the gradient must look like
  DType dtype = DType::F32;
  Device device;
  bool wants_grad() const { return node || leaf; }
};

struct Node {
  const char* name = "";
  std::vector<Edge> inputs;
  BackwardFn backward;  // null once run (the graph is freed as it is walked)
  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  ~Node();  // releases long chains iteratively (no deep recursion)
};

namespace autograd {

bool grad_enabled();

// While alive, no op records a node (teacher forward, evaluation): nothing is kept for backward.
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when grad mode is on and some input requires grad: the op should then call record().
bool needs_graph(std::initializer_list<Tensor> inputs);

// Makes `out` the output of a new node `name` over `inputs` (undefined inputs are allowed and get
// no gradient). Does nothing when needs_graph(inputs) is false.
void record(Tensor& out, const char* name, std::initializer_list<Tensor> inputs, BackwardFn backward);

// The value every element of the gradient g equals, when it is known on the host: backward()
// without an explicit gradient seeds with 1, and affine ops (x * a + b, hence the weights of a sum
// of losses) carry it along. A backward may use it to avoid a multiply (ops::kd_kl_div returns the
// gradient its forward already wrote when the upstream is 1). nullopt: unknown, read g itself.
std::optional<double> uniform_value(const Tensor& g);

// The engine behind Tensor::backward.
void run_backward(const Tensor& root, const Tensor& grad);

}  // namespace autograd
}  // namespace kdcu
