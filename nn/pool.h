// Pooling layers over [N, C, H, W], PyTorch's nn.MaxPool2d, nn.AvgPool2d (floor mode) and
// nn.AdaptiveAvgPool2d with output size 1 (global average pooling; other sizes are refused).
#pragma once

#include <cstdint>

#include "nn/module.h"
#include "ops/conv.h"  // Pair

namespace kdcu {
namespace nn {

using ops::Pair;

// FLOPs of a window pool: one per window element read, kh * kw per output element.
class MaxPool2d : public Module {
 public:
  // stride {0, 0} (the default) means stride = kernel, as PyTorch's stride=None. Throws ValueError
  // for kernel < 1, negative stride or padding, padding > kernel / 2.
  explicit MaxPool2d(Pair kernel, Pair stride = {0, 0}, Pair padding = {0, 0});
  explicit MaxPool2d(std::int64_t kernel, std::int64_t stride = 0, std::int64_t padding = 0)
      : MaxPool2d(Pair{kernel, kernel}, Pair{stride, stride}, Pair{padding, padding}) {}
  Tensor forward(const Tensor& x) override;
  double flops(const Shape& in, const Shape& out) const override;

 private:
  Pair kernel_, stride_, padding_;
};

class AvgPool2d : public Module {
 public:
  // The same arguments as MaxPool2d; count_include_pad as PyTorch's (padding counts as 0).
  explicit AvgPool2d(Pair kernel, Pair stride = {0, 0}, Pair padding = {0, 0}, bool count_include_pad = true);
  explicit AvgPool2d(std::int64_t kernel, std::int64_t stride = 0, std::int64_t padding = 0,
                     bool count_include_pad = true)
      : AvgPool2d(Pair{kernel, kernel}, Pair{stride, stride}, Pair{padding, padding}, count_include_pad) {}
  Tensor forward(const Tensor& x) override;
  double flops(const Shape& in, const Shape& out) const override;

 private:
  Pair kernel_, stride_, padding_;
  bool count_include_pad_;
};

// [N, C, H, W] -> [N, C, 1, 1], the mean of each plane; one FLOP per input element.
class AdaptiveAvgPool2d : public Module {
 public:
  // Only output size 1 (global pooling) is implemented; any other size is a ValueError.
  explicit AdaptiveAvgPool2d(std::int64_t output_size = 1) : AdaptiveAvgPool2d(Pair{output_size, output_size}) {}
  explicit AdaptiveAvgPool2d(Pair output_size);
  Tensor forward(const Tensor& x) override;
  double flops(const Shape& in, const Shape& out) const override;
};

}  // namespace nn
}  // namespace kdcu
