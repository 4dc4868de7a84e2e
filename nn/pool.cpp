// Pooling layers over ops/pool.h. Arguments are checked when a layer is built, with the same
// rules as the ops, so a bad layer fails at construction rather than at its first forward.
#include "nn/pool.h"

#include "ops/pool.h"

namespace kdcu {
namespace nn {
namespace {

void check_window(const char* layer, Pair kernel, Pair stride, Pair padding) {
  for (int d = 0; d < 2; ++d) {
    require<ValueError>(kernel[d] >= 1 && stride[d] >= 0 && padding[d] >= 0 && padding[d] <= kernel[d] / 2, layer,
                        ": expected kernel >= 1, stride >= 0 (0: the kernel), 0 <= padding <= kernel / 2, found "
                        "kernel (",
                        kernel[0], ", ", kernel[1], "), stride (", stride[0], ", ", stride[1], "), padding (",
                        padding[0], ", ", padding[1], ")");
  }
}

double window_flops(Pair kernel, const Shape& out) {
  return static_cast<double>(kernel[0] * kernel[1]) * static_cast<double>(numel(out));
}

}  // namespace

MaxPool2d::MaxPool2d(Pair kernel, Pair stride, Pair padding)
    : Module("MaxPool2d"), kernel_(kernel), stride_(stride), padding_(padding) {
  check_window("MaxPool2d", kernel, stride, padding);
}

Tensor MaxPool2d::forward(const Tensor& x) {
  return ops::max_pool2d(x, kernel_, stride_, padding_);
}

double MaxPool2d::flops(const Shape&, const Shape& out) const {
  return window_flops(kernel_, out);
}

AvgPool2d::AvgPool2d(Pair kernel, Pair stride, Pair padding, bool count_include_pad)
    : Module("AvgPool2d"), kernel_(kernel), stride_(stride), padding_(padding), count_include_pad_(count_include_pad) {
  check_window("AvgPool2d", kernel, stride, padding);
}

Tensor AvgPool2d::forward(const Tensor& x) {
  return ops::avg_pool2d(x, kernel_, stride_, padding_, count_include_pad_);
}

double AvgPool2d::flops(const Shape&, const Shape& out) const {
  return window_flops(kernel_, out);
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(Pair output_size) : Module("AdaptiveAvgPool2d") {
  require<ValueError>(output_size[0] == 1 && output_size[1] == 1,
                      "AdaptiveAvgPool2d: only output size 1 (global average pooling) is implemented, found (",
                      output_size[0], ", ", output_size[1], ")");
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) {
  return ops::global_avg_pool2d(x);
}

double AdaptiveAvgPool2d::flops(const Shape& in, const Shape&) const {
  return static_cast<double>(numel(in));
}

}  // namespace nn
}  // namespace kdcu
