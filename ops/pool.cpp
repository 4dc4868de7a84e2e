#include "ops/pool.h"

#include "core/autograd.h"
#include "kernels/cpu/pool.h"
#include "kernels/cuda/pool.h"
#include "kernels/dispatch.h"

namespace kdcu {
namespace ops {
namespace {

using kernels::cpu::Pool2dShape;

std::string pair_str(const Pair& p) {
  return cat("(", p[0], ", ", p[1], ")");
}

void check_input(const Tensor& x, const char* op) {
  check_defined(x, op, "x");
  check_floating(x, op);
  require<ShapeError>(x.dim() == 4, op, ": expected x of shape [N, C, H, W], found ", shape_str(x.shape()));
}

Pool2dShape pool_geometry(const Tensor& x, Pair kernel, Pair stride, Pair padding, const char* op) {
  check_input(x, op);
  require<ValueError>(kernel[0] >= 1 && kernel[1] >= 1, op, ": expected kernel >= 1, found ", pair_str(kernel));
  require<ValueError>(stride[0] >= 0 && stride[1] >= 0, op, ": expected stride >= 1 (or 0 for the kernel size), found ",
                      pair_str(stride));
  require<ValueError>(padding[0] >= 0 && padding[1] >= 0, op, ": expected padding >= 0, found ", pair_str(padding));
  require<ValueError>(padding[0] <= kernel[0] / 2 && padding[1] <= kernel[1] / 2, op,
                      ": expected padding at most half the kernel, found padding ", pair_str(padding), " for kernel ",
                      pair_str(kernel));
  Pool2dShape s;
  s.planes = x.size(0) * x.size(1);
  s.h = x.size(2), s.w = x.size(3);
  s.kh = kernel[0], s.kw = kernel[1];
  s.sh = stride[0] ? stride[0] : kernel[0];
  s.sw = stride[1] ? stride[1] : kernel[1];
  s.ph = padding[0], s.pw = padding[1];
  require<ShapeError>(s.kh <= s.h + 2 * s.ph && s.kw <= s.w + 2 * s.pw, op, ": the kernel is ", s.kh, "x", s.kw,
                      " but the padded input is only ", s.h + 2 * s.ph, "x", s.w + 2 * s.pw, " (x ",
                      shape_str(x.shape()), ", padding ", pair_str(padding), ")");
  s.oh = conv_output_size(s.h, s.kh, s.sh, s.ph);
  s.ow = conv_output_size(s.w, s.kw, s.sw, s.pw);
  return s;
}

}  // namespace

Tensor max_pool2d(const Tensor& x, Pair kernel, Pair stride, Pair padding) {
  const Pool2dShape s = pool_geometry(x, kernel, stride, padding, "max_pool2d");
  const Shape out_shape{x.size(0), x.size(1), s.oh, s.ow};
  Tensor y = empty(out_shape, x.dtype(), x.device());
  // The argmax indices are only worth their memory when a backward will read them.
  const bool graph = autograd::needs_graph({x});
  Tensor indices = graph ? empty(out_shape, DType::I64, x.device()) : Tensor();
  visit_floating(x.dtype(), "max_pool2d", [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        x.device(),
        [&](auto) {
          kernels::cpu::max_pool2d_forward<T>(x.data<T>(), y.data<T>(), graph ? indices.data<std::int64_t>() : nullptr,
                                              s);
        },
        [&](auto) {
          kernels::cuda::max_pool2d_forward<T>(x.data<T>(), y.data<T>(), graph ? indices.data<std::int64_t>() : nullptr,
                                               s, x.device().index);
        });
  });
  if (graph) {
    autograd::record(
        y, "max_pool2d", {x}, [indices, s, in_shape = x.shape()](const Tensor& g, const std::vector<bool>&) -> Grads {
          Tensor dx = empty(in_shape, g.dtype(), g.device());
          visit_floating(g.dtype(), "max_pool2d backward", [&](auto zero) {
            using T = decltype(zero);
            kernels::on_device(
                g.device(),
                [&](auto) {
                  kernels::cpu::max_pool2d_backward<T>(g.data<T>(), indices.data<std::int64_t>(), dx.data<T>(), s);
                },
                [&](auto) {
                  kernels::cuda::max_pool2d_backward<T>(g.data<T>(), indices.data<std::int64_t>(), dx.data<T>(), s,
                                                        g.device().index);
                });
          });
          return {dx};
        });
  }
  return y;
}

Tensor avg_pool2d(const Tensor& x, Pair kernel, Pair stride, Pair padding, bool count_include_pad) {
  const Pool2dShape s = pool_geometry(x, kernel, stride, padding, "avg_pool2d");
  Tensor y = empty({x.size(0), x.size(1), s.oh, s.ow}, x.dtype(), x.device());
  visit_floating(x.dtype(), "avg_pool2d", [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        x.device(), [&](auto) { kernels::cpu::avg_pool2d_forward<T>(x.data<T>(), y.data<T>(), s, count_include_pad); },
        [&](auto) {
          kernels::cuda::avg_pool2d_forward<T>(x.data<T>(), y.data<T>(), s, count_include_pad, x.device().index);
        });
  });
  autograd::record(
      y, "avg_pool2d", {x},
      [s, count_include_pad, in_shape = x.shape()](const Tensor& g, const std::vector<bool>&) -> Grads {
        Tensor dx = empty(in_shape, g.dtype(), g.device());
        visit_floating(g.dtype(), "avg_pool2d backward", [&](auto zero) {
          using T = decltype(zero);
          kernels::on_device(
              g.device(),
              [&](auto) { kernels::cpu::avg_pool2d_backward<T>(g.data<T>(), dx.data<T>(), s, count_include_pad); },
              [&](auto) {
                kernels::cuda::avg_pool2d_backward<T>(g.data<T>(), dx.data<T>(), s, count_include_pad,
                                                      g.device().index);
              });
        });
        return {dx};
      });
  return y;
}

Tensor global_avg_pool2d(const Tensor& x) {
  check_input(x, "global_avg_pool2d");
  const std::int64_t planes = x.size(0) * x.size(1), hw = x.size(2) * x.size(3);
  require<ShapeError>(hw >= 1, "global_avg_pool2d: expected a non-empty plane, found x ", shape_str(x.shape()));
  Tensor y = empty({x.size(0), x.size(1), 1, 1}, x.dtype(), x.device());
  visit_floating(x.dtype(), "global_avg_pool2d", [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        x.device(), [&](auto) { kernels::cpu::global_avg_pool2d_forward<T>(x.data<T>(), y.data<T>(), planes, hw); },
        [&](auto) {
          kernels::cuda::global_avg_pool2d_forward<T>(x.data<T>(), y.data<T>(), planes, hw, x.device().index);
        });
  });
  autograd::record(
      y, "global_avg_pool2d", {x},
      [planes, hw, in_shape = x.shape()](const Tensor& g, const std::vector<bool>&) -> Grads {
        Tensor dx = empty(in_shape, g.dtype(), g.device());
        visit_floating(g.dtype(), "global_avg_pool2d backward", [&](auto zero) {
          using T = decltype(zero);
          kernels::on_device(
              g.device(),
              [&](auto) { kernels::cpu::global_avg_pool2d_backward<T>(g.data<T>(), dx.data<T>(), planes, hw); },
              [&](auto) {
                kernels::cuda::global_avg_pool2d_backward<T>(g.data<T>(), dx.data<T>(), planes, hw, g.device().index);
              });
        });
        return {dx};
      });
  return y;
}

}  // namespace ops
}  // namespace kdcu
