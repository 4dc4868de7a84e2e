// ResNets for small images, exactly shared/reference/torch_models.py's: a 3x3 stride-1 stem
// (conv1, bn1, ReLU; no max-pool), stages layer1..layerN of BasicBlocks, global average pooling
// and one linear classifier `fc`. CIFAR-style resnet{6n+2} (3 stages, widths 16w, 32w, 64w) and
// resnet18 (4 stages of 2 blocks, widths 64w..512w). Convs are initialised kaiming_normal
// (fan_out, ReLU), BN weight 1 / bias 0, fc as PyTorch's default Linear.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/batch_norm.h"
#include "nn/conv.h"
#include "nn/linear.h"
#include "nn/model.h"
#include "nn/pool.h"
#include "nn/sequential.h"
#include "nn/simple_layers.h"

namespace kdcu {
namespace nn {

// relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)): 3x3 convs without bias, the first with
// `stride`; the shortcut is x, or downsample = Sequential(1x1 conv with `stride`, BN) when the
// stride is not 1 or the channel count changes. State names: conv1, bn1, conv2, bn2,
// downsample.0, downsample.1. Its own FLOPs are the residual add (one per output element).
// `options` go to every layer (with default_init false the convs are left for the caller to
// initialise, as ResNet does).
class BasicBlock : public Module {
 public:
  BasicBlock(std::int64_t in_channels, std::int64_t out_channels, std::int64_t stride,
             const LayerOptions& options = {});
  Tensor forward(const Tensor& x) override;
  double flops(const Shape& in, const Shape& out) const override;

  Conv2d& conv1() const { return *conv1_; }
  BatchNorm2d& bn1() const { return *bn1_; }
  Conv2d& conv2() const { return *conv2_; }
  BatchNorm2d& bn2() const { return *bn2_; }
  Sequential* downsample() const { return downsample_.get(); }  // null for an identity shortcut

 private:
  std::shared_ptr<Conv2d> conv1_, conv2_;
  std::shared_ptr<BatchNorm2d> bn1_, bn2_;
  std::shared_ptr<ReLU> relu_;
  std::shared_ptr<Sequential> downsample_;
};

class ResNet : public Model {
 public:
  // blocks[i] BasicBlocks of width widths[i] in stage i + 1; the first block of every stage but
  // the first has stride 2. Throws ValueError for empty or mismatched lists or counts < 1.
  ResNet(const std::vector<std::int64_t>& blocks, const std::vector<std::int64_t>& widths, const ModelConfig& cfg,
         Generator& gen);

  // Features: "stem" [N, w0, H, W] (after the stem's ReLU), "layer1".."layerN" (each stage's
  // output), "pool" [N, C_last] (the globally pooled features the classifier sees).
  Tensor forward_features(const Tensor& x, NamedTensors* features) override;
  std::vector<std::string> feature_names() const override;

  std::int64_t num_stages() const { return static_cast<std::int64_t>(stages_.size()); }
  Sequential& stage(std::int64_t i) const;  // layer{i + 1}
  Linear& fc() const { return *fc_; }

 private:
  std::shared_ptr<Conv2d> conv1_;
  std::shared_ptr<BatchNorm2d> bn1_;
  std::shared_ptr<ReLU> relu_;
  std::vector<std::shared_ptr<Sequential>> stages_;
  std::shared_ptr<AdaptiveAvgPool2d> avgpool_;
  std::shared_ptr<Linear> fc_;
};

// resnet{depth}, depth = 6n + 2 (20, 32, 44, 56, 110, ...): 3 stages of n blocks, widths
// 16 m, 32 m, 64 m with m = cfg.width_mult. ValueError for any other depth.
std::shared_ptr<ResNet> resnet_cifar(std::int64_t depth, const ModelConfig& cfg, Generator& gen);
// 4 stages of 2 blocks, widths 64 m, 128 m, 256 m, 512 m.
std::shared_ptr<ResNet> resnet18(const ModelConfig& cfg, Generator& gen);

}  // namespace nn
}  // namespace kdcu
