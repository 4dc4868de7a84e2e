// Distillation losses on intermediate feature maps [N, C, H, W]: FitNets hints through a learned
// 1x1-conv + BN regressor (student channels -> teacher channels), and attention transfer on the
// normalized channel-mean of squared activations. Composed of kdcu ops and nn layers.
#pragma once

#include <cstdint>
#include <memory>

#include "core/tensor.h"
#include "nn/batch_norm.h"
#include "nn/conv.h"
#include "nn/init.h"
#include "nn/module.h"

namespace kdcu {
namespace distill {

// FitNets' regressor (Romero et al. 2015, "FitNets: Hints for Thin Deep Nets"): bn(conv(x)) with a
// 1x1 nn::Conv2d without bias (student_channels -> teacher_channels) and nn::BatchNorm2d(teacher_channels).
// State names "conv.weight", "bn.weight", "bn.bias", "bn.running_mean", ... Its parameters train with
// the student. ValueError for channel counts < 1 (from the layers).
class HintRegressor : public nn::Module {
 public:
  HintRegressor(std::int64_t student_channels, std::int64_t teacher_channels, const nn::LayerOptions& options = {});

  // [N, student_channels, H, W] -> [N, teacher_channels, H, W]; ShapeError for any other input.
  Tensor forward(const Tensor& x) override;

  std::int64_t student_channels() const { return student_channels_; }
  std::int64_t teacher_channels() const { return teacher_channels_; }
  nn::Conv2d& conv() const { return *conv_; }
  nn::BatchNorm2d& bn() const { return *bn_; }

 private:
  std::int64_t student_channels_, teacher_channels_;
  std::shared_ptr<nn::Conv2d> conv_;
  std::shared_ptr<nn::BatchNorm2d> bn_;
};

// FitNets hint loss: mean over all N*C_t*H*W entries of (r(s_feat) - t_feat)^2 (ops::mse_loss).
// s_feat [N, C_s, H, W] with C_s = r.student_channels(), t_feat [N, C_t, H, W] with C_t =
// r.teacher_channels(); ShapeError naming expected vs found when the batch, spatial size or a channel
// count differs. Gradients reach s_feat and the regressor's parameters.
Tensor hint_loss(HintRegressor& r, const Tensor& s_feat, const Tensor& t_feat);

// Attention transfer (Zagoruyko & Komodakis 2017, "Paying More Attention to Attention"), the
// activation-based map with p = 2: a = mean_c feat^2 ([N, C, H, W] -> [N, H*W]), then per row
// a / sqrt(||a||^2 + eps^2) with eps = 1e-12 (a smooth F.normalize: an all-zero map stays 0, no 0/0).
// ShapeError unless feat is 4-D.
Tensor attention_map(const Tensor& feat);

// The AT reference code's loss (at(s) - at(t)).pow(2).mean(): the mean over all N*H*W entries of the
// squared difference of the two maps (the paper's beta/2 and its sum over layers are the caller's).
// Channel counts may differ; ShapeError unless both are 4-D with the same batch and spatial size.
Tensor attention_loss(const Tensor& s_feat, const Tensor& t_feat);

}  // namespace distill
}  // namespace kdcu
