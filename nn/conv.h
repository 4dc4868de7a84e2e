// Conv2d: PyTorch's nn.Conv2d with groups = 1 and zero padding (weight OIHW [Cout, Cin, kh, kw],
// bias [Cout]), initialised as PyTorch does (U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = Cin kh kw).
#pragma once

#include <cstdint>

#include "nn/init.h"
#include "nn/module.h"
#include "ops/conv.h"

namespace kdcu {
namespace nn {

using ops::Pair;

class Conv2d : public Module {
 public:
  // Throws ValueError for channels or kernel < 1, stride or dilation < 1, negative padding.
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, Pair kernel, Pair stride = {1, 1}, Pair padding = {0, 0},
         Pair dilation = {1, 1}, bool bias = true, const LayerOptions& options = {});
  // Square form: the same value for h and w.
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel, std::int64_t stride = 1,
         std::int64_t padding = 0, std::int64_t dilation = 1, bool bias = true, const LayerOptions& options = {});

  // [N, Cin, H, W] -> [N, Cout, OH, OW].
  Tensor forward(const Tensor& x) override;
  // 2 * Cin * kh * kw * Cout * OH * OW per image, plus Cout * OH * OW for the bias.
  double flops(const Shape& in, const Shape& out) const override;

  std::int64_t in_channels() const { return in_channels_; }
  std::int64_t out_channels() const { return out_channels_; }
  Pair kernel() const { return kernel_; }
  Pair stride() const { return stride_; }
  Pair padding() const { return padding_; }
  Pair dilation() const { return dilation_; }
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }  // undefined without a bias

 private:
  std::int64_t in_channels_, out_channels_;
  Pair kernel_, stride_, padding_, dilation_;
  Tensor weight_, bias_;
};

}  // namespace nn
}  // namespace kdcu
