// Conv2d over ops::conv2d; geometry is checked here once so a bad layer fails when it is built,
// not on its first forward.
#include "nn/conv.h"

#include "core/factories.h"

namespace kdcu {
namespace nn {

Conv2d::Conv2d(std::int64_t in_channels, std::int64_t out_channels, Pair kernel, Pair stride, Pair padding,
               Pair dilation, bool bias, const LayerOptions& options)
    : Module("Conv2d"),
      in_channels_(in_channels),
      out_channels_(out_channels),
      kernel_(kernel),
      stride_(stride),
      padding_(padding),
      dilation_(dilation) {
  require<ValueError>(in_channels >= 1 && out_channels >= 1, "Conv2d: expected in and out channels >= 1, found ",
                      in_channels, " and ", out_channels);
  for (int d = 0; d < 2; ++d) {
    require<ValueError>(kernel[d] >= 1 && stride[d] >= 1 && dilation[d] >= 1 && padding[d] >= 0,
                        "Conv2d: expected kernel, stride, dilation >= 1 and padding >= 0, found kernel (", kernel[0],
                        ", ", kernel[1], "), stride (", stride[0], ", ", stride[1], "), padding (", padding[0], ", ",
                        padding[1], "), dilation (", dilation[0], ", ", dilation[1], ")");
  }
  weight_ = register_parameter("weight", empty({out_channels, in_channels, kernel[0], kernel[1]}, options.dtype));
  if (bias) bias_ = register_parameter("bias", empty({out_channels}, options.dtype));
  if (options.default_init) init::default_weight_bias_(weight_, bias_, options.generator());
}

Conv2d::Conv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel, std::int64_t stride,
               std::int64_t padding, std::int64_t dilation, bool bias, const LayerOptions& options)
    : Conv2d(in_channels, out_channels, Pair{kernel, kernel}, Pair{stride, stride}, Pair{padding, padding},
             Pair{dilation, dilation}, bias, options) {}

Tensor Conv2d::forward(const Tensor& x) {
  return ops::conv2d(x, weight_, bias_, stride_, padding_, dilation_);
}

double Conv2d::flops(const Shape&, const Shape& out) const {
  // out = [N, Cout, OH, OW]: every output element is a Cin*kh*kw dot product (+ a bias add).
  const double per_output =
      2.0 * static_cast<double>(in_channels_ * kernel_[0] * kernel_[1]) + (bias_.defined() ? 1 : 0);
  return per_output * static_cast<double>(numel(out));
}

}  // namespace nn
}  // namespace kdcu
