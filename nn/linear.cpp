// Linear over ops::linear; the registration order (weight, then bias) is PyTorch's state_dict order.
#include "nn/linear.h"

#include "core/factories.h"
#include "ops/linear.h"

namespace kdcu {
namespace nn {

Linear::Linear(std::int64_t in_features, std::int64_t out_features, bool bias, const LayerOptions& options)
    : Module("Linear"), in_features_(in_features), out_features_(out_features) {
  require<ValueError>(in_features >= 1 && out_features >= 1,
                      "Linear: expected in_features and out_features >= 1, found ", in_features, " and ", out_features);
  weight_ = register_parameter("weight", empty({out_features, in_features}, options.dtype));
  if (bias) bias_ = register_parameter("bias", empty({out_features}, options.dtype));
  if (options.default_init) init::default_weight_bias_(weight_, bias_, options.generator());
}

Tensor Linear::forward(const Tensor& x) {
  check_defined(x, "Linear", "x");
  require<ShapeError>(x.dim() >= 1 && x.size(-1) == in_features_, "Linear(", in_features_, " -> ", out_features_,
                      "): expected input [..., ", in_features_, "], found ", shape_str(x.shape()));
  if (x.dim() == 2) return ops::linear(x, weight_, bias_);
  Shape out_shape = x.shape();
  out_shape.back() = out_features_;
  return ops::linear(x.reshape({-1, in_features_}), weight_, bias_).reshape(out_shape);
}

double Linear::flops(const Shape& in, const Shape&) const {
  const double rows = static_cast<double>(numel(in)) / static_cast<double>(in_features_);
  return rows * (2.0 * in_features_ * out_features_ + (bias_.defined() ? out_features_ : 0));
}

}  // namespace nn
}  // namespace kdcu
