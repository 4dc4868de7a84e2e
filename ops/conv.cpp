#include "ops/conv.h"

#include "core/autograd.h"
#include "kernels/cpu/conv.h"
#include "kernels/cuda/conv.h"
#include "kernels/dispatch.h"

namespace kdcu {
namespace ops {
namespace {

std::string pair_str(const Pair& p) {
  return cat("(", p[0], ", ", p[1], ")");
}

kernels::cpu::Conv2dShape conv_geometry(const Tensor& x, const Tensor& weight, const Tensor& bias, Pair stride,
                                        Pair padding, Pair dilation) {
  check_defined(x, "conv2d", "x");
  check_defined(weight, "conv2d", "weight");
  check_floating(x, "conv2d");
  check_same_dtype(x, weight, "conv2d");
  check_same_device(x, weight, "conv2d");
  require<ShapeError>(x.dim() == 4, "conv2d: expected x of shape [N, Cin, H, W], found ", shape_str(x.shape()));
  require<ShapeError>(weight.dim() == 4, "conv2d: expected weight of shape [Cout, Cin, kh, kw] (OIHW), found ",
                      shape_str(weight.shape()));
  const Shape &xs = x.shape(), &ws = weight.shape();
  require<ShapeError>(ws[1] == xs[1], "conv2d: x ", shape_str(xs), " has ", xs[1], " channels but weight ",
                      shape_str(ws), " expects ", ws[1], " (groups = 1)");
  require<ShapeError>(ws[2] >= 1 && ws[3] >= 1, "conv2d: expected a kernel of at least 1x1, found weight ",
                      shape_str(ws));
  if (bias.defined()) {
    check_same_dtype(x, bias, "conv2d");
    check_same_device(x, bias, "conv2d");
    require<ShapeError>(bias.shape() == Shape{ws[0]}, "conv2d: expected bias of shape [", ws[0],
                        "] (one per output channel), found ", shape_str(bias.shape()));
  }
  require<ValueError>(stride[0] >= 1 && stride[1] >= 1, "conv2d: expected stride >= 1, found ", pair_str(stride));
  require<ValueError>(padding[0] >= 0 && padding[1] >= 0, "conv2d: expected padding >= 0, found ", pair_str(padding));
  require<ValueError>(dilation[0] >= 1 && dilation[1] >= 1, "conv2d: expected dilation >= 1, found ",
                      pair_str(dilation));
  kernels::cpu::Conv2dShape s;
  s.n = xs[0], s.cin = xs[1], s.h = xs[2], s.w = xs[3];
  s.cout = ws[0], s.kh = ws[2], s.kw = ws[3];
  s.sh = stride[0], s.sw = stride[1], s.ph = padding[0], s.pw = padding[1], s.dh = dilation[0], s.dw = dilation[1];
  const std::int64_t ext_h = s.dh * (s.kh - 1) + 1, ext_w = s.dw * (s.kw - 1) + 1;
  const std::int64_t pad_h = s.h + 2 * s.ph, pad_w = s.w + 2 * s.pw;
  require<ShapeError>(ext_h <= pad_h && ext_w <= pad_w, "conv2d: the (dilated) kernel is ", ext_h, "x", ext_w,
                      " but the padded input is only ", pad_h, "x", pad_w, " (x ", shape_str(xs), ", weight ",
                      shape_str(ws), ", padding ", pair_str(padding), ", dilation ", pair_str(dilation), ")");
  s.oh = conv_output_size(s.h, s.kh, s.sh, s.ph, s.dh);
  s.ow = conv_output_size(s.w, s.kw, s.sw, s.pw, s.dw);
  return s;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Pair stride, Pair padding, Pair dilation) {
  const kernels::cpu::Conv2dShape s = conv_geometry(x, weight, bias, stride, padding, dilation);
  Tensor y = empty({s.n, s.cout, s.oh, s.ow}, x.dtype(), x.device());
  visit_floating(x.dtype(), "conv2d", [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        x.device(),
        [&](auto) {
          kernels::cpu::conv2d_forward<T>(x.data<T>(), weight.data<T>(), bias.defined() ? bias.data<T>() : nullptr,
                                          y.data<T>(), s);
        },
        [&](auto) {
          kernels::cuda::conv2d_forward<T>(x.data<T>(), weight.data<T>(), bias.defined() ? bias.data<T>() : nullptr,
                                           y.data<T>(), s, x.device().index);
        });
  });
  if (autograd::needs_graph({x, weight, bias})) {
    // dx needs only the weight, dweight only x, dbias neither.
    const Tensor x_ = weight.requires_grad() ? x.detach() : Tensor();
    const Tensor w_ = x.requires_grad() ? weight.detach() : Tensor();
    autograd::record(
        y, "conv2d", {x, weight, bias}, [x_, w_, s](const Tensor& g, const std::vector<bool>& needs) -> Grads {
          Tensor dx = needs[0] ? empty({s.n, s.cin, s.h, s.w}, g.dtype(), g.device()) : Tensor();
          Tensor dw = needs[1] ? empty({s.cout, s.cin, s.kh, s.kw}, g.dtype(), g.device()) : Tensor();
          Tensor db = needs[2] ? empty({s.cout}, g.dtype(), g.device()) : Tensor();
          visit_floating(g.dtype(), "conv2d backward", [&](auto zero) {
            using T = decltype(zero);
            kernels::on_device(
                g.device(),
                [&](auto) {
                  kernels::cpu::conv2d_backward<T>(needs[1] ? x_.data<T>() : nullptr, needs[0] ? w_.data<T>() : nullptr,
                                                   g.data<T>(), needs[0] ? dx.data<T>() : nullptr,
                                                   needs[1] ? dw.data<T>() : nullptr, needs[2] ? db.data<T>() : nullptr,
                                                   s);
                },
                [&](auto) {
                  kernels::cuda::conv2d_backward<T>(
                      needs[1] ? x_.data<T>() : nullptr, needs[0] ? w_.data<T>() : nullptr, g.data<T>(),
                      needs[0] ? dx.data<T>() : nullptr, needs[1] ? dw.data<T>() : nullptr,
                      needs[2] ? db.data<T>() : nullptr, s, g.device().index);
                });
          });
          return {dx, dw, db};
        });
  }
  return y;
}

}  // namespace ops
}  // namespace kdcu
