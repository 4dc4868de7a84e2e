// The autograd engine: topological order by iterative DFS, reverse walk, gradient sums per node,
// += into leaves. It runs under no-grad (no higher-order graphs) and frees each node as it goes.
#include "core/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "core/factories.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/dispatch.h"

namespace kdcu {
Node::~Node() {
  std::vector<std::shared_ptr<Node>> orphans;
  const auto adopt = [&](std::vector<Edge>& edges) {
    for (Edge& e : edges)
      if (e.node && e.node.use_count() == 1) orphans.push_back(std::move(e.node));
  };
  adopt(inputs);
  while (!orphans.empty()) {
    std::shared_ptr<Node> n = std::move(orphans.back());
    orphans.pop_back();
    adopt(n->inputs);
  }  // each orphan dies here with its producers already taken
}

namespace autograd {
namespace {

thread_local bool t_grad_enabled = true;

// dst += src, in place, no graph.
void accumulate(const Tensor& dst, const Tensor& src) {
  visit_floating(dst.dtype(), "gradient accumulation", [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        dst.device(), [&](auto) { kernels::cpu::add_inplace<T>(dst.data<T>(), src.data<T>(), dst.numel(), T(1)); },
        [&](auto) {
          kernels::cuda::add_inplace<T>(dst.data<T>(), src.data<T>(), dst.numel(), T(1), dst.device().index);
        });
  });
}

// True when nothing else can see g's storage, so it may become a leaf's .grad without a copy.
bool exclusively_owned(const Tensor& g) {
  return g.impl_ptr().use_count() == 1 && g.impl()->storage.use_count() == 1;
}

void check_grad(const Node& node, size_t i, const Tensor& g) {
  const Edge& e = node.inputs[i];
  require<AutogradError>(g.shape() == e.shape && g.dtype() == e.dtype && g.device() == e.device, "backward of '",
                         node.name, "' returned a gradient for input ", i, " of shape ", shape_str(g.shape()), " ",
                         dtype_name(g.dtype()), " on ", g.device().str(), "; expected ", shape_str(e.shape), " ",
                         dtype_name(e.dtype), " on ", e.device.str());
}

void accumulate_leaf(TensorImpl& leaf, const Tensor& g) {
  if (!leaf.grad) {
    leaf.grad = exclusively_owned(g) ? g.impl_ptr() : g.detach().clone().impl_ptr();
    leaf.grad->uniform_grad.reset();  // the user and the optimizers may change .grad in place
  } else {
    accumulate(Tensor(leaf.grad), g);
  }
}

// Nodes reachable from root, each after every node that consumes its output.
std::vector<Node*> topological_order(Node* root) {
  std::vector<Node*> order;
  std::unordered_set<Node*> seen{root};
  std::vector<std::pair<Node*, size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->inputs.size()) {
      Node* child = node->inputs[next++].node.get();
      if (child && seen.insert(child).second) stack.emplace_back(child, 0);
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }
  return {order.rbegin(), order.rend()};
}

}  // namespace

std::optional<double> uniform_value(const Tensor& g) {
  return g.defined() ? g.impl()->uniform_grad : std::nullopt;
}

bool grad_enabled() {
  return t_grad_enabled;
}

NoGradGuard::NoGradGuard() : previous_(t_grad_enabled) {
  t_grad_enabled = false;
}
NoGradGuard::~NoGradGuard() {
  t_grad_enabled = previous_;
}

bool needs_graph(std::initializer_list<Tensor> inputs) {
  if (!t_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record(Tensor& out, const char* name, std::initializer_list<Tensor> inputs, BackwardFn backward) {
  if (!needs_graph(inputs)) return;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->backward = std::move(backward);
  node->inputs.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    Edge e;
    if (t.defined()) {
      e.shape = t.shape();
      e.dtype = t.dtype();
      e.device = t.device();
      if (t.requires_grad()) {
        if (t.grad_fn())
          e.node = t.grad_fn();
        else
          e.leaf = t.impl_ptr();
      }
    }
    node->inputs.push_back(std::move(e));
  }
  out.impl()->requires_grad = true;
  out.impl()->grad_fn = std::move(node);
}

void run_backward(const Tensor& root, const Tensor& grad) {
  check_defined(root, "backward", "the tensor");
  require<AutogradError>(root.requires_grad(), "backward() on a tensor that does not require grad (shape ",
                         shape_str(root.shape()),
                         "): no input of the computation had requires_grad, or it ran under no-grad");
  Tensor seed = grad;
  const bool implicit_seed = !seed.defined();
  if (implicit_seed) {
    require<AutogradError>(root.numel() == 1,
                           "backward() without a gradient needs a one-element tensor; found "
                           "shape ",
                           shape_str(root.shape()), " (pass the gradient explicitly)");
    seed = ones_like(root);
  } else {
    check_same_shape(root, seed, "backward (gradient vs tensor)");
    check_same_dtype(root, seed, "backward (gradient vs tensor)");
    check_same_device(root, seed, "backward (gradient vs tensor)");
  }
  NoGradGuard no_grad;
  if (root.is_leaf()) {
    accumulate_leaf(*root.impl(), seed.detach());
    return;
  }
  Node* start = root.grad_fn().get();
  require<AutogradError>(static_cast<bool>(start->backward), "backward() through '", start->name,
                         "' a second time: the graph is freed after the first backward; recompute the forward");
  const std::vector<Node*> order = topological_order(start);
  std::unordered_map<Node*, Tensor> pending{{start, seed.detach()}};
  if (implicit_seed) pending[start].impl()->uniform_grad = 1.0;
  for (Node* node : order) {
    auto it = pending.find(node);
    if (it == pending.end()) continue;  // no gradient flows into this node
    const Tensor g = it->second;
    pending.erase(it);
    require<AutogradError>(static_cast<bool>(node->backward), "backward() through '", node->name,
                           "' a second time: the graph is freed after the first backward");
    std::vector<bool> needs(node->inputs.size());
    for (size_t i = 0; i < needs.size(); ++i) needs[i] = node->inputs[i].wants_grad();
    Grads grads = node->backward(g, needs);
    require<AutogradError>(grads.size() == node->inputs.size(), "backward of '", node->name, "' returned ",
                           grads.size(), " gradients for ", node->inputs.size(), " inputs");
    for (size_t i = 0; i < grads.size(); ++i) {
      const Edge& e = node->inputs[i];
      if (!e.wants_grad() || !grads[i].defined()) continue;
      Tensor gi = std::move(grads[i]);
      check_grad(*node, i, gi);
      if (e.leaf) {
        accumulate_leaf(*e.leaf, gi);
      } else {
        Tensor& slot = pending[e.node.get()];
        if (!slot.defined()) {
          slot = std::move(gi);
        } else {
          // A sum of two known-uniform gradients is known; anything else added makes it unknown.
          const std::optional<double> u = slot.impl()->uniform_grad, v = gi.impl()->uniform_grad;
          if (exclusively_owned(slot)) {
            accumulate(slot, gi);
          } else {
            Tensor sum = slot.clone();
            accumulate(sum, gi);
            slot = sum;
          }
          slot.impl()->uniform_grad = u && v ? std::optional<double>(*u + *v) : std::nullopt;
        }
      }
    }
    // Free what this node kept for backward; the edges go too, releasing upstream nodes early.
    node->backward = nullptr;
  }
  // Producers last in `order`: clearing from the back never frees a node still to be visited.
  for (auto it = order.rbegin(); it != order.rend(); ++it) (*it)->inputs.clear();
}

}  // namespace autograd
}  // namespace kdcu
