#include "ops/linear.h"

#include "core/autograd.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cuda/gemm.h"
#include "kernels/dispatch.h"

namespace kdcu {
namespace ops {
namespace {

void check_operands(const Tensor& a, const char* a_name, const Tensor& b, const char* b_name, const char* op) {
  check_defined(a, op, a_name);
  check_defined(b, op, b_name);
  check_floating(a, op);
  check_same_dtype(a, b, op);
  check_same_device(a, b, op);
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_operands(a, "a", b, "b", "matmul");
  const Shape &sa = a.shape(), &sb = b.shape();
  const bool plain = a.dim() == 2 && b.dim() == 2, batched = a.dim() == 3 && b.dim() == 3;
  require<ShapeError>(plain || batched, "matmul: expected [M, K] x [K, N] or [B, M, K] x [B, K, N], found ",
                      shape_str(sa), " x ", shape_str(sb));
  const std::int64_t batch = batched ? sa[0] : 1;
  const std::int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  require<ShapeError>(sb[sb.size() - 2] == k, "matmul: inner dims differ: ", shape_str(sa), " x ", shape_str(sb),
                      " (expected b's dim ", b.dim() - 2, " to be ", k, ", found ", sb[sb.size() - 2], ")");
  require<ShapeError>(!batched || sb[0] == batch, "matmul: batch sizes differ: ", shape_str(sa), " x ", shape_str(sb),
                      " (expected equal dim 0; there is no broadcasting)");
  Tensor c = empty(batched ? Shape{batch, m, n} : Shape{m, n}, a.dtype(), a.device());
  visit_floating(a.dtype(), "matmul", [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        a.device(),
        [&](auto) { kernels::cpu::matmul_forward<T>(a.data<T>(), b.data<T>(), c.data<T>(), batch, m, k, n); },
        [&](auto) {
          kernels::cuda::matmul_forward<T>(a.data<T>(), b.data<T>(), c.data<T>(), batch, m, k, n, a.device().index);
        });
  });
  if (autograd::needs_graph({a, b})) {
    // da = g b^T needs only b, db = a^T g only a: keep just what a wanted gradient uses.
    const Tensor a_ = b.requires_grad() ? a.detach() : Tensor(), b_ = a.requires_grad() ? b.detach() : Tensor();
    autograd::record(c, "matmul", {a, b},
                     [a_, b_, sa, sb, batch, m, k, n](const Tensor& g, const std::vector<bool>& needs) -> Grads {
                       Tensor da = needs[0] ? empty(sa, g.dtype(), g.device()) : Tensor();
                       Tensor db = needs[1] ? empty(sb, g.dtype(), g.device()) : Tensor();
                       visit_floating(g.dtype(), "matmul backward", [&](auto zero) {
                         using T = decltype(zero);
                         kernels::on_device(
                             g.device(),
                             [&](auto) {
                               kernels::cpu::matmul_backward<T>(needs[1] ? a_.data<T>() : nullptr,
                                                                needs[0] ? b_.data<T>() : nullptr, g.data<T>(),
                                                                needs[0] ? da.data<T>() : nullptr,
                                                                needs[1] ? db.data<T>() : nullptr, batch, m, k, n);
                             },
                             [&](auto) {
                               kernels::cuda::matmul_backward<T>(
                                   needs[1] ? a_.data<T>() : nullptr, needs[0] ? b_.data<T>() : nullptr, g.data<T>(),
                                   needs[0] ? da.data<T>() : nullptr, needs[1] ? db.data<T>() : nullptr, batch, m, k, n,
                                   g.device().index);
                             });
                       });
                       return {da, db};
                     });
  }
  return c;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_operands(x, "x", weight, "weight", "linear");
  require<ShapeError>(x.dim() == 2, "linear: expected x of shape [N, in], found ", shape_str(x.shape()));
  require<ShapeError>(weight.dim() == 2, "linear: expected weight of shape [out, in], found ",
                      shape_str(weight.shape()));
  const std::int64_t rows = x.size(0), in = x.size(1), out = weight.size(0);
  require<ShapeError>(weight.size(1) == in, "linear: x ", shape_str(x.shape()), " has ", in, " features but weight ",
                      shape_str(weight.shape()), " expects ", weight.size(1), " (weight is [out, in])");
  if (bias.defined()) {
    check_operands(x, "x", bias, "bias", "linear");
    require<ShapeError>(bias.shape() == Shape{out}, "linear: expected bias of shape [", out, "], found ",
                        shape_str(bias.shape()));
  }
  Tensor y = empty({rows, out}, x.dtype(), x.device());
  visit_floating(x.dtype(), "linear", [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        x.device(),
        [&](auto) {
          kernels::cpu::linear_forward<T>(x.data<T>(), weight.data<T>(), bias.defined() ? bias.data<T>() : nullptr,
                                          y.data<T>(), rows, in, out);
        },
        [&](auto) {
          kernels::cuda::linear_forward<T>(x.data<T>(), weight.data<T>(), bias.defined() ? bias.data<T>() : nullptr,
                                           y.data<T>(), rows, in, out, x.device().index);
        });
  });
  if (autograd::needs_graph({x, weight, bias})) {
    // dx = g W needs only W, dW = g^T x only x, db neither.
    const Tensor x_ = weight.requires_grad() ? x.detach() : Tensor();
    const Tensor w_ = x.requires_grad() ? weight.detach() : Tensor();
    autograd::record(y, "linear", {x, weight, bias},
                     [x_, w_, rows, in, out](const Tensor& g, const std::vector<bool>& needs) -> Grads {
                       Tensor dx = needs[0] ? empty({rows, in}, g.dtype(), g.device()) : Tensor();
                       Tensor dw = needs[1] ? empty({out, in}, g.dtype(), g.device()) : Tensor();
                       Tensor db = needs[2] ? empty({out}, g.dtype(), g.device()) : Tensor();
                       visit_floating(g.dtype(), "linear backward", [&](auto zero) {
                         using T = decltype(zero);
                         kernels::on_device(
                             g.device(),
                             [&](auto) {
                               kernels::cpu::linear_backward<T>(
                                   needs[1] ? x_.data<T>() : nullptr, needs[0] ? w_.data<T>() : nullptr, g.data<T>(),
                                   needs[0] ? dx.data<T>() : nullptr, needs[1] ? dw.data<T>() : nullptr,
                                   needs[2] ? db.data<T>() : nullptr, rows, in, out);
                             },
                             [&](auto) {
                               kernels::cuda::linear_backward<T>(
                                   needs[1] ? x_.data<T>() : nullptr, needs[0] ? w_.data<T>() : nullptr, g.data<T>(),
                                   needs[0] ? dx.data<T>() : nullptr, needs[1] ? dw.data<T>() : nullptr,
                                   needs[2] ? db.data<T>() : nullptr, rows, in, out, g.device().index);
                             });
                       });
                       return {dx, dw, db};
                     });
  }
  return y;
}

}  // namespace ops
}  // namespace kdcu
