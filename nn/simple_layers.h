// Parameter-free layers: ReLU, Identity and Flatten (PyTorch's nn.ReLU, nn.Identity, nn.Flatten).
// They exist as modules so that models can name them and `summary` can show them.
#pragma once

#include <cstdint>

#include "nn/module.h"

namespace kdcu {
namespace nn {

class ReLU : public Module {  // max(x, 0); one FLOP per element
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& x) override;
  double flops(const Shape& in, const Shape& out) const override;
};

class Identity : public Module {  // returns its input (the same tensor); no FLOPs
 public:
  Identity() : Module("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }
};

// Merges dims [start_dim, end_dim] into one (a view); no FLOPs. PyTorch's defaults (1, -1) turn
// [N, C, H, W] into [N, C*H*W].
class Flatten : public Module {
 public:
  explicit Flatten(std::int64_t start_dim = 1, std::int64_t end_dim = -1)
      : Module("Flatten"), start_dim_(start_dim), end_dim_(end_dim) {}
  Tensor forward(const Tensor& x) override { return x.flatten(start_dim_, end_dim_); }

 private:
  std::int64_t start_dim_, end_dim_;
};

}  // namespace nn
}  // namespace kdcu
