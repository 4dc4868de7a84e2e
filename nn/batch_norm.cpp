// BatchNorm over ops::batch_norm (which updates the running statistics in place in training).
// num_batches_tracked is counted here: +1 per training forward, outside autograd.
#include "nn/batch_norm.h"

#include "core/autograd.h"
#include "core/factories.h"
#include "ops/batch_norm.h"
#include "ops/elementwise.h"

namespace kdcu {
namespace nn {
namespace {

// counter += 1 for an i64 [] tensor on any device. On the CPU in place; elsewhere through f64
// (exact below 2^53) with the existing cast kernels, so it needs no host round trip or sync.
void increment(const Tensor& counter) {
  autograd::NoGradGuard no_grad;
  if (counter.device().is_cpu()) {
    ++counter.data<std::int64_t>()[0];
    return;
  }
  copy_into(counter, ops::add(counter.to(DType::F64), 1.0).to(DType::I64));
}

}  // namespace

BatchNorm::BatchNorm(const char* type_name, std::int64_t min_rank, std::int64_t max_rank, std::int64_t num_features,
                     double eps, double momentum, const LayerOptions& options)
    : Module(type_name),
      min_rank_(min_rank),
      max_rank_(max_rank),
      num_features_(num_features),
      eps_(eps),
      momentum_(momentum) {
  require<ValueError>(num_features >= 1, type_name, ": expected num_features >= 1, found ", num_features);
  require<ValueError>(eps >= 0.0, type_name, ": expected eps >= 0, found ", eps);
  require<ValueError>(momentum >= 0.0 && momentum <= 1.0, type_name, ": expected momentum in [0, 1], found ", momentum);
  // PyTorch's registration order: parameters weight, bias; buffers running_mean, running_var,
  // num_batches_tracked.
  weight_ = register_parameter("weight", ones({num_features}, options.dtype));
  bias_ = register_parameter("bias", zeros({num_features}, options.dtype));
  running_mean_ = register_buffer("running_mean", zeros({num_features}, options.dtype));
  running_var_ = register_buffer("running_var", ones({num_features}, options.dtype));
  num_batches_tracked_ = register_buffer("num_batches_tracked", zeros({}, DType::I64));
}

Tensor BatchNorm::forward(const Tensor& x) {
  check_defined(x, type_name().c_str(), "x");
  require<ShapeError>(x.dim() >= min_rank_ && x.dim() <= max_rank_ && x.size(1) == num_features_, type_name(), "(",
                      num_features_, "): expected input ", min_rank_ == 4 ? "[N, C, H, W]" : "[N, C] or [N, C, L]",
                      " with C = ", num_features_, ", found ", shape_str(x.shape()));
  const bool training = is_training();
  Tensor y = ops::batch_norm(x, weight_, bias_, running_mean_, running_var_, training, momentum_, eps_);
  if (training) increment(num_batches_tracked_);  // after the op, so a rejected batch counts nothing
  return y;
}

double BatchNorm::flops(const Shape&, const Shape& out) const {
  return static_cast<double>(numel(out));
}

}  // namespace nn
}  // namespace kdcu
