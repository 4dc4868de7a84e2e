#include "ops/elementwise.h"

#include "core/autograd.h"
#include "core/factories.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/dispatch.h"

namespace kdcu {
namespace ops {
namespace {

using kernels::BinaryOp;
using kernels::UnaryOp;

kernels::BroadcastPlan plan_of(const Shape& out, const Shape& a, const Shape& b) {
  return kernels::make_broadcast_plan(out.data(), static_cast<int>(out.size()), a.data(), static_cast<int>(a.size()),
                                      b.data(), static_cast<int>(b.size()));
}

void check_binary(const Tensor& a, const Tensor& b, const char* op) {
  check_defined(a, op, "a");
  check_defined(b, op, "b");
  check_floating(a, op);
  check_same_dtype(a, b, op);
  check_same_device(a, b, op);
}

Tensor binary_forward(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = kernels::binary_name(op);
  check_binary(a, b, name);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = empty(shape, a.dtype(), a.device());
  const kernels::BroadcastPlan plan = plan_of(shape, a.shape(), b.shape());
  visit_floating(a.dtype(), name, [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        a.device(), [&](auto) { kernels::cpu::binary<T>(op, a.data<T>(), b.data<T>(), out.data<T>(), plan); },
        [&](auto) { kernels::cuda::binary<T>(op, a.data<T>(), b.data<T>(), out.data<T>(), plan, a.device().index); });
  });
  return out;
}

Tensor unary(UnaryOp op, const Tensor& x) {
  const char* name = kernels::unary_name(op);
  check_defined(x, name, "x");
  check_floating(x, name);
  Tensor y = empty_like(x);
  visit_floating(x.dtype(), name, [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        x.device(), [&](auto) { kernels::cpu::unary_forward<T>(op, x.data<T>(), y.data<T>(), x.numel()); },
        [&](auto) { kernels::cuda::unary_forward<T>(op, x.data<T>(), y.data<T>(), x.numel(), x.device().index); });
  });
  if (autograd::needs_graph({x})) {
    // Each gradient needs the input or the output, never both.
    const bool needs_x = op == UnaryOp::Log || op == UnaryOp::Relu;
    const Tensor saved = needs_x ? x.detach() : y.detach();
    autograd::record(y, name, {x}, [op, needs_x, saved](const Tensor& g, const std::vector<bool>&) -> Grads {
      Tensor dx = empty_like(g);
      visit_floating(g.dtype(), "unary backward", [&](auto zero) {
        using T = decltype(zero);
        const T* px = needs_x ? saved.data<T>() : nullptr;
        const T* py = needs_x ? nullptr : saved.data<T>();
        kernels::on_device(
            g.device(),
            [&](auto) { kernels::cpu::unary_backward<T>(op, px, py, g.data<T>(), dx.data<T>(), g.numel()); },
            [&](auto) {
              kernels::cuda::unary_backward<T>(op, px, py, g.data<T>(), dx.data<T>(), g.numel(), g.device().index);
            });
      });
      return {dx};
    });
  }
  return y;
}

}  // namespace

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  Tensor out = empty(shape, g.dtype(), g.device());
  const kernels::BroadcastPlan plan = plan_of(g.shape(), shape, g.shape());
  visit_floating(g.dtype(), "sum_to", [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        g.device(), [&](auto) { kernels::cpu::sum_to<T>(g.data<T>(), out.data<T>(), out.numel(), plan); },
        [&](auto) { kernels::cuda::sum_to<T>(g.data<T>(), out.data<T>(), out.numel(), plan, g.device().index); });
  });
  return out;
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Add, a, b);
  autograd::record(out, "add", {a, b},
                   [sa = a.shape(), sb = b.shape()](const Tensor& g, const std::vector<bool>& needs) -> Grads {
                     return {needs[0] ? sum_to(g, sa) : Tensor(), needs[1] ? sum_to(g, sb) : Tensor()};
                   });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Sub, a, b);
  autograd::record(out, "sub", {a, b},
                   [sa = a.shape(), sb = b.shape()](const Tensor& g, const std::vector<bool>& needs) -> Grads {
                     return {needs[0] ? sum_to(g, sa) : Tensor(), needs[1] ? neg(sum_to(g, sb)) : Tensor()};
                   });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Mul, a, b);
  if (autograd::needs_graph({a, b})) {
    autograd::record(out, "mul", {a, b},
                     [a_ = a.detach(), b_ = b.detach()](const Tensor& g, const std::vector<bool>& needs) -> Grads {
                       return {needs[0] ? sum_to(mul(g, b_), a_.shape()) : Tensor(),
                               needs[1] ? sum_to(mul(g, a_), b_.shape()) : Tensor()};
                     });
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Div, a, b);
  if (autograd::needs_graph({a, b})) {
    autograd::record(out, "div", {a, b},
                     [a_ = a.detach(), b_ = b.detach()](const Tensor& g, const std::vector<bool>& needs) -> Grads {
                       Grads grads(2);
                       const Tensor g_over_b = div(g, b_);
                       if (needs[0]) grads[0] = sum_to(g_over_b, a_.shape());
                       if (needs[1]) grads[1] = sum_to(neg(div(mul(g_over_b, a_), b_)), b_.shape());
                       return grads;
                     });
  }
  return out;
}

Tensor affine(const Tensor& x, double alpha, double beta) {
  check_defined(x, "affine", "x");
  check_floating(x, "affine");
  Tensor y = empty_like(x);
  visit_floating(x.dtype(), "affine", [&](auto zero) {
    using T = decltype(zero);
    const T a = static_cast<T>(alpha), b = static_cast<T>(beta);
    kernels::on_device(
        x.device(), [&](auto) { kernels::cpu::affine<T>(x.data<T>(), y.data<T>(), x.numel(), a, b); },
        [&](auto) { kernels::cuda::affine<T>(x.data<T>(), y.data<T>(), x.numel(), a, b, x.device().index); });
    // A known-uniform gradient stays known, with the value the kernel's arithmetic gives.
    if (const std::optional<double> u = autograd::uniform_value(x))
      y.impl()->uniform_grad = static_cast<double>(a * static_cast<T>(*u) + b);
  });
  autograd::record(y, "affine", {x}, [alpha](const Tensor& g, const std::vector<bool>&) -> Grads {
    return {alpha == 1.0 ? g : affine(g, alpha, 0.0)};
  });
  return y;
}

Tensor add(const Tensor& x, double s) {
  return affine(x, 1.0, s);
}
Tensor mul(const Tensor& x, double s) {
  return affine(x, s, 0.0);
}

Tensor pow(const Tensor& x, double p) {
  check_defined(x, "pow", "x");
  check_floating(x, "pow");
  Tensor y = empty_like(x);
  visit_floating(x.dtype(), "pow", [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        x.device(), [&](auto) { kernels::cpu::pow_forward<T>(x.data<T>(), y.data<T>(), x.numel(), T(p)); },
        [&](auto) { kernels::cuda::pow_forward<T>(x.data<T>(), y.data<T>(), x.numel(), T(p), x.device().index); });
  });
  if (autograd::needs_graph({x})) {
    autograd::record(y, "pow", {x}, [p, x_ = x.detach()](const Tensor& g, const std::vector<bool>&) -> Grads {
      Tensor dx = empty_like(g);
      visit_floating(g.dtype(), "pow backward", [&](auto zero) {
        using T = decltype(zero);
        kernels::on_device(
            g.device(),
            [&](auto) { kernels::cpu::pow_backward<T>(x_.data<T>(), g.data<T>(), dx.data<T>(), g.numel(), T(p)); },
            [&](auto) {
              kernels::cuda::pow_backward<T>(x_.data<T>(), g.data<T>(), dx.data<T>(), g.numel(), T(p),
                                             g.device().index);
            });
      });
      return {dx};
    });
  }
  return y;
}

Tensor rdiv(double s, const Tensor& x) {
  return mul(pow(x, -1.0), s);
}

Tensor neg(const Tensor& x) {
  return unary(UnaryOp::Neg, x);
}
Tensor exp(const Tensor& x) {
  return unary(UnaryOp::Exp, x);
}
Tensor log(const Tensor& x) {
  return unary(UnaryOp::Log, x);
}
Tensor sqrt(const Tensor& x) {
  return unary(UnaryOp::Sqrt, x);
}
Tensor relu(const Tensor& x) {
  return unary(UnaryOp::Relu, x);
}
Tensor sigmoid(const Tensor& x) {
  return unary(UnaryOp::Sigmoid, x);
}
Tensor tanh(const Tensor& x) {
  return unary(UnaryOp::Tanh, x);
}

}  // namespace ops

Tensor operator+(const Tensor& a, const Tensor& b) {
  return ops::add(a, b);
}
Tensor operator-(const Tensor& a, const Tensor& b) {
  return ops::sub(a, b);
}
Tensor operator*(const Tensor& a, const Tensor& b) {
  return ops::mul(a, b);
}
Tensor operator/(const Tensor& a, const Tensor& b) {
  return ops::div(a, b);
}
Tensor operator+(const Tensor& a, double s) {
  return ops::affine(a, 1.0, s);
}
Tensor operator-(const Tensor& a, double s) {
  return ops::affine(a, 1.0, -s);
}
Tensor operator*(const Tensor& a, double s) {
  return ops::affine(a, s, 0.0);
}
Tensor operator/(const Tensor& a, double s) {
  return ops::affine(a, 1.0 / s, 0.0);
}
Tensor operator+(double s, const Tensor& a) {
  return ops::affine(a, 1.0, s);
}
Tensor operator-(double s, const Tensor& a) {
  return ops::affine(a, -1.0, s);
}
Tensor operator*(double s, const Tensor& a) {
  return ops::affine(a, s, 0.0);
}
Tensor operator/(double s, const Tensor& a) {
  return ops::rdiv(s, a);
}
Tensor operator-(const Tensor& a) {
  return ops::neg(a);
}

}  // namespace kdcu
