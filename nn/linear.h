// Linear: y = x W^T + b over the last dim, PyTorch's nn.Linear (weight [out, in], bias [out]),
// initialised as PyTorch does (U(-1/sqrt(in), 1/sqrt(in)) for both).
#pragma once

#include <cstdint>

#include "nn/init.h"
#include "nn/module.h"

namespace kdcu {
namespace nn {

class Linear : public Module {
 public:
  // Throws ValueError unless in_features >= 1 and out_features >= 1.
  Linear(std::int64_t in_features, std::int64_t out_features, bool bias = true, const LayerOptions& options = {});

  // [..., in] -> [..., out] (a [N, in] GEMM; other ranks are flattened to rows and back, views both ways).
  Tensor forward(const Tensor& x) override;
  // 2 * in * out per row, plus out per row for the bias.
  double flops(const Shape& in, const Shape& out) const override;

  std::int64_t in_features() const { return in_features_; }
  std::int64_t out_features() const { return out_features_; }
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }  // undefined without a bias

 private:
  std::int64_t in_features_, out_features_;
  Tensor weight_, bias_;
};

}  // namespace nn
}  // namespace kdcu
