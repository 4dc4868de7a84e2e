// Feature distillation losses: the FitNets regressor is a Module of two registered children (conv,
// bn); hint and attention losses are compositions of nn layers and kdcu ops (mse_loss, pow, mean).
#include "distill/feature_losses.h"

#include "core/error.h"
#include "distill/loss_util.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/reduce.h"

namespace kdcu {
namespace distill {
namespace {

// Both 4-D with the same batch and spatial size (channels may differ); ShapeError naming `op`.
void check_feature_pair(const Tensor& s, const Tensor& t, const char* op) {
  detail::check_pair(s, t, op);
  require<ShapeError>(s.dim() == 4, op, ": expected student features of shape [N, C, H, W], found ",
                      shape_str(s.shape()));
  require<ShapeError>(t.dim() == 4, op, ": expected teacher features of shape [N, C, H, W], found ",
                      shape_str(t.shape()));
  require<ShapeError>(s.size(0) == t.size(0) && s.size(2) == t.size(2) && s.size(3) == t.size(3), op,
                      ": expected teacher features with the student's batch and spatial size [", s.size(0), ", C, ",
                      s.size(2), ", ", s.size(3), "], found ", shape_str(t.shape()));
}

}  // namespace

HintRegressor::HintRegressor(std::int64_t student_channels, std::int64_t teacher_channels,
                             const nn::LayerOptions& options)
    : Module("HintRegressor"), student_channels_(student_channels), teacher_channels_(teacher_channels) {
  conv_ = register_module("conv", std::make_shared<nn::Conv2d>(student_channels, teacher_channels, 1, 1, 0, 1,
                                                               /*bias=*/false, options));
  bn_ = register_module("bn", std::make_shared<nn::BatchNorm2d>(teacher_channels, 1e-5, 0.1, options));
}

Tensor HintRegressor::forward(const Tensor& x) {
  check_defined(x, "HintRegressor", "x");
  require<ShapeError>(x.dim() == 4 && x.size(1) == student_channels_, "HintRegressor(", student_channels_, " -> ",
                      teacher_channels_, "): expected student features [N, ", student_channels_, ", H, W], found ",
                      shape_str(x.shape()));
  return (*bn_)((*conv_)(x));
}

Tensor hint_loss(HintRegressor& r, const Tensor& s_feat, const Tensor& t_feat) {
  const char* op = "hint_loss";
  check_feature_pair(s_feat, t_feat, op);
  require<ShapeError>(s_feat.size(1) == r.student_channels(), op, ": expected student features with ",
                      r.student_channels(), " channels (the regressor's input), found ", shape_str(s_feat.shape()));
  require<ShapeError>(t_feat.size(1) == r.teacher_channels(), op, ": expected teacher features with ",
                      r.teacher_channels(), " channels (the regressor's output), found ", shape_str(t_feat.shape()));
  return ops::mse_loss(r(s_feat), t_feat, ops::Reduction::Mean);
}

Tensor attention_map(const Tensor& feat) {
  const char* op = "attention_map";
  check_defined(feat, op, "feat");
  check_floating(feat, op);
  require<ShapeError>(feat.dim() == 4, op, ": expected features of shape [N, C, H, W], found ",
                      shape_str(feat.shape()));
  const Tensor a = ops::mean(ops::mul(feat, feat), 1).flatten(1);  // [N, H*W]
  return detail::normalize(a, 1);
}

Tensor attention_loss(const Tensor& s_feat, const Tensor& t_feat) {
  check_feature_pair(s_feat, t_feat, "attention_loss");
  return ops::mse_loss(attention_map(s_feat), attention_map(t_feat), ops::Reduction::Mean);
}

}  // namespace distill
}  // namespace kdcu
