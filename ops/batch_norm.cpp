#include "ops/batch_norm.h"

#include "core/autograd.h"
#include "kernels/cpu/batch_norm.h"
#include "kernels/cuda/batch_norm.h"
#include "kernels/dispatch.h"

namespace kdcu {
namespace ops {
namespace {

// A per-channel tensor (undefined allowed): x's dtype and device, shape [C].
void check_channel_tensor(const Tensor& t, const char* name, const Tensor& x) {
  if (!t.defined()) return;
  check_same_dtype(x, t, "batch_norm");
  check_same_device(x, t, "batch_norm");
  require<ShapeError>(t.shape() == Shape{x.size(1)}, "batch_norm: expected ", name, " of shape [", x.size(1),
                      "] (one per channel of x ", shape_str(x.shape()), "), found ", shape_str(t.shape()));
}

template <class T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps) {
  check_defined(x, "batch_norm", "x");
  check_floating(x, "batch_norm");
  require<ShapeError>(x.dim() >= 2, "batch_norm: expected x of shape [N, C] or [N, C, H, W], found ",
                      shape_str(x.shape()));
  check_channel_tensor(weight, "weight", x);
  check_channel_tensor(bias, "bias", x);
  check_channel_tensor(running_mean, "running_mean", x);
  check_channel_tensor(running_var, "running_var", x);
  require<ValueError>(eps >= 0.0, "batch_norm: expected eps >= 0, found ", eps);
  const std::int64_t n = x.size(0), c = x.size(1);
  std::int64_t s = 1;  // values per channel and image: H * W, or 1 for [N, C]
  for (std::int64_t d = 2; d < x.dim(); ++d) s *= x.size(d);
  if (training) {
    require<ValueError>(n * s > 1, "batch_norm: expected more than 1 value per channel when training, found x ",
                        shape_str(x.shape()), " (", n * s, " per channel)");
  } else {
    const char* missing = !running_mean.defined() ? (!running_var.defined() ? "both" : "running_mean") : "running_var";
    require<ValueError>(running_mean.defined() && running_var.defined(),
                        "batch_norm: eval mode normalises with running_mean and running_var; expected both defined, "
                        "found ",
                        missing, " undefined");
  }
  Tensor mean = empty({c}, x.dtype(), x.device()), invstd = empty({c}, x.dtype(), x.device());
  Tensor y = empty(x.shape(), x.dtype(), x.device());
  visit_floating(x.dtype(), "batch_norm", [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        x.device(),
        [&](auto) {
          if (training) {
            // The running statistics are buffers: written in place, outside autograd.
            kernels::cpu::batch_norm_stats<T>(x.data<T>(), n, c, s, eps, mean.data<T>(), invstd.data<T>(),
                                              data_or_null<T>(running_mean), data_or_null<T>(running_var), momentum);
          } else {
            kernels::cpu::batch_norm_running_stats<T>(running_mean.data<T>(), running_var.data<T>(), c, eps,
                                                      mean.data<T>(), invstd.data<T>());
          }
          kernels::cpu::batch_norm_forward<T>(x.data<T>(), mean.data<T>(), invstd.data<T>(), data_or_null<T>(weight),
                                              data_or_null<T>(bias), y.data<T>(), n, c, s);
        },
        [&](auto) {
          const int dev = x.device().index;
          if (training) {
            kernels::cuda::batch_norm_stats<T>(x.data<T>(), n, c, s, eps, mean.data<T>(), invstd.data<T>(),
                                               data_or_null<T>(running_mean), data_or_null<T>(running_var), momentum,
                                               dev);
          } else {
            kernels::cuda::batch_norm_running_stats<T>(running_mean.data<T>(), running_var.data<T>(), c, eps,
                                                       mean.data<T>(), invstd.data<T>(), dev);
          }
          kernels::cuda::batch_norm_forward<T>(x.data<T>(), mean.data<T>(), invstd.data<T>(), data_or_null<T>(weight),
                                               data_or_null<T>(bias), y.data<T>(), n, c, s, dev);
        });
  });
  if (autograd::needs_graph({x, weight, bias})) {
    // x is read by the weight gradient and by the training-mode input gradient; dbias needs nothing.
    const bool keep_x = (weight.defined() && weight.requires_grad()) || (training && x.requires_grad());
    const Tensor x_ = keep_x ? x.detach() : Tensor();
    const Tensor w_ = weight.defined() ? weight.detach() : Tensor();
    autograd::record(y, "batch_norm", {x, weight, bias},
                     [x_, w_, mean, invstd, training, shape = x.shape(), n, c, s](
                         const Tensor& g, const std::vector<bool>& needs) -> Grads {
                       Tensor dx = needs[0] ? empty(shape, g.dtype(), g.device()) : Tensor();
                       Tensor dw = needs[1] ? empty({c}, g.dtype(), g.device()) : Tensor();
                       Tensor db = needs[2] ? empty({c}, g.dtype(), g.device()) : Tensor();
                       visit_floating(g.dtype(), "batch_norm backward", [&](auto zero) {
                         using T = decltype(zero);
                         kernels::on_device(
                             g.device(),
                             [&](auto) {
                               kernels::cpu::batch_norm_backward<T>(data_or_null<T>(x_), g.data<T>(), mean.data<T>(),
                                                                    invstd.data<T>(), data_or_null<T>(w_), training,
                                                                    data_or_null<T>(dx), data_or_null<T>(dw),
                                                                    data_or_null<T>(db), n, c, s);
                             },
                             [&](auto) {
                               kernels::cuda::batch_norm_backward<T>(data_or_null<T>(x_), g.data<T>(), mean.data<T>(),
                                                                     invstd.data<T>(), data_or_null<T>(w_), training,
                                                                     data_or_null<T>(dx), data_or_null<T>(dw),
                                                                     data_or_null<T>(db), n, c, s, g.device().index);
                             });
                       });
                       return {dx, dw, db};
                     });
  }
  return y;
}

}  // namespace ops
}  // namespace kdcu
