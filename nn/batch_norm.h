// Batch normalisation over dim 1, PyTorch's nn.BatchNorm1d ([N, C] or [N, C, L]) and
// nn.BatchNorm2d ([N, C, H, W]): parameters weight (1) and bias (0), buffers running_mean (0),
// running_var (1) and num_batches_tracked (i64 shape [], +1 per training forward), as PyTorch.
#pragma once

#include <cstdint>

#include "nn/init.h"
#include "nn/module.h"

namespace kdcu {
namespace nn {

// The shared implementation; use BatchNorm1d or BatchNorm2d, which only fix the accepted ranks.
class BatchNorm : public Module {
 public:
  // Training normalises with the batch statistics and moves the running ones by `momentum`
  // (r = (1 - momentum) r + momentum s, unbiased variance); eval normalises with the running ones.
  Tensor forward(const Tensor& x) override;
  // One per element (the normalisation is one fused scale-and-shift per element).
  double flops(const Shape& in, const Shape& out) const override;

  std::int64_t num_features() const { return num_features_; }
  double eps() const { return eps_; }
  double momentum() const { return momentum_; }
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  const Tensor& running_mean() const { return running_mean_; }
  const Tensor& running_var() const { return running_var_; }
  const Tensor& num_batches_tracked() const { return num_batches_tracked_; }

 protected:
  // Throws ValueError for num_features < 1, eps < 0 or momentum outside [0, 1].
  BatchNorm(const char* type_name, std::int64_t min_rank, std::int64_t max_rank, std::int64_t num_features, double eps,
            double momentum, const LayerOptions& options);

 private:
  std::int64_t min_rank_, max_rank_, num_features_;
  double eps_, momentum_;
  Tensor weight_, bias_, running_mean_, running_var_, num_batches_tracked_;
};

class BatchNorm1d : public BatchNorm {  // [N, C] or [N, C, L]
 public:
  explicit BatchNorm1d(std::int64_t num_features, double eps = 1e-5, double momentum = 0.1,
                       const LayerOptions& options = {})
      : BatchNorm("BatchNorm1d", 2, 3, num_features, eps, momentum, options) {}
};

class BatchNorm2d : public BatchNorm {  // [N, C, H, W]
 public:
  explicit BatchNorm2d(std::int64_t num_features, double eps = 1e-5, double momentum = 0.1,
                       const LayerOptions& options = {})
      : BatchNorm("BatchNorm2d", 4, 4, num_features, eps, momentum, options) {}
};

}  // namespace nn
}  // namespace kdcu
