// ResNet and BasicBlock; module registration order is the reference's, so state_dict names and
// order are PyTorch's (the parameter-free relu/avgpool children add no state_dict entries).
#include "nn/resnet.h"

#include <string>

#include "ops/elementwise.h"

namespace kdcu {
namespace nn {

BasicBlock::BasicBlock(std::int64_t in_channels, std::int64_t out_channels, std::int64_t stride,
                       const LayerOptions& options)
    : Module("BasicBlock") {
  conv1_ =
      register_module("conv1", std::make_shared<Conv2d>(in_channels, out_channels, 3, stride, 1, 1, false, options));
  bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(out_channels, 1e-5, 0.1, options));
  relu_ = register_module("relu", std::make_shared<ReLU>());
  conv2_ = register_module("conv2", std::make_shared<Conv2d>(out_channels, out_channels, 3, 1, 1, 1, false, options));
  bn2_ = register_module("bn2", std::make_shared<BatchNorm2d>(out_channels, 1e-5, 0.1, options));
  if (stride != 1 || in_channels != out_channels) {
    downsample_ = register_module("downsample", std::make_shared<Sequential>());
    downsample_->push_back(std::make_shared<Conv2d>(in_channels, out_channels, 1, stride, 0, 1, false, options));
    downsample_->push_back(std::make_shared<BatchNorm2d>(out_channels, 1e-5, 0.1, options));
  }
}

Tensor BasicBlock::forward(const Tensor& x) {
  const Tensor out = (*bn2_)((*conv2_)((*relu_)((*bn1_)((*conv1_)(x)))));
  const Tensor shortcut = downsample_ ? (*downsample_)(x) : x;
  return (*relu_)(out + shortcut);
}

double BasicBlock::flops(const Shape&, const Shape& out) const {
  return static_cast<double>(numel(out));  // the residual add; the ReLUs report their own
}

ResNet::ResNet(const std::vector<std::int64_t>& blocks, const std::vector<std::int64_t>& widths, const ModelConfig& cfg,
               Generator& gen)
    : Model("ResNet", cfg) {
  require<ValueError>(!blocks.empty() && blocks.size() == widths.size(), "ResNet: expected as many stage widths as ",
                      "block counts (at least one), found ", blocks.size(), " block counts and ", widths.size(),
                      " widths");
  for (size_t i = 0; i < blocks.size(); ++i)
    require<ValueError>(blocks[i] >= 1 && widths[i] >= 1, "ResNet: stage ", i + 1, " has ", blocks[i],
                        " blocks of width ", widths[i], "; expected both >= 1");
  // The convs are drawn once, by the Kaiming init below; fc keeps PyTorch's default.
  const LayerOptions options{&gen, cfg.dtype}, conv_options{&gen, cfg.dtype, false};
  conv1_ =
      register_module("conv1", std::make_shared<Conv2d>(cfg.in_channels, widths[0], 3, 1, 1, 1, false, conv_options));
  bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(widths[0], 1e-5, 0.1, options));
  relu_ = register_module("relu", std::make_shared<ReLU>());
  std::int64_t cin = widths[0];
  for (size_t i = 0; i < blocks.size(); ++i) {
    auto stage = register_module("layer" + std::to_string(i + 1), std::make_shared<Sequential>());
    for (std::int64_t j = 0; j < blocks[i]; ++j) {
      stage->push_back(std::make_shared<BasicBlock>(cin, widths[i], (j == 0 && i > 0) ? 2 : 1, conv_options));
      cin = widths[i];
    }
    stages_.push_back(stage);
  }
  avgpool_ = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(1));
  fc_ = register_module("fc", std::make_shared<Linear>(cin, cfg.num_classes, true, options));
  // He et al.'s init for the convs (BN layers start at weight 1 / bias 0 already), as
  // torchvision's ResNet does after building its layers.
  for (const auto& [name, m] : named_modules())
    if (auto* conv = dynamic_cast<Conv2d*>(m))
      init::kaiming_normal_(conv->weight(), gen, 0.0, init::FanMode::FanOut, init::Nonlinearity::ReLU);
}

Tensor ResNet::forward_features(const Tensor& x, NamedTensors* features) {
  Tensor y = (*relu_)((*bn1_)((*conv1_)(x)));
  if (features) features->emplace_back("stem", y);
  for (size_t i = 0; i < stages_.size(); ++i) {
    y = (*stages_[i])(y);
    if (features) features->emplace_back("layer" + std::to_string(i + 1), y);
  }
  y = (*avgpool_)(y).flatten(1);
  if (features) features->emplace_back("pool", y);
  return (*fc_)(y);
}

std::vector<std::string> ResNet::feature_names() const {
  std::vector<std::string> names{"stem"};
  for (size_t i = 0; i < stages_.size(); ++i) names.push_back("layer" + std::to_string(i + 1));
  names.push_back("pool");
  return names;
}

Sequential& ResNet::stage(std::int64_t i) const {
  require<ValueError>(i >= 0 && i < num_stages(), "ResNet: stage index ", i, " out of range for ", num_stages(),
                      " stages");
  return *stages_[static_cast<size_t>(i)];
}

std::shared_ptr<ResNet> resnet_cifar(std::int64_t depth, const ModelConfig& cfg, Generator& gen) {
  require<ValueError>(depth >= 8 && (depth - 2) % 6 == 0, "resnet_cifar: depth must be 6n + 2 with n >= 1 (20, 32, ",
                      "44, 56, 110, ...), found ", depth);
  const std::int64_t n = (depth - 2) / 6, w = 16 * cfg.width_mult;
  return std::make_shared<ResNet>(std::vector<std::int64_t>{n, n, n}, std::vector<std::int64_t>{w, 2 * w, 4 * w}, cfg,
                                  gen);
}

std::shared_ptr<ResNet> resnet18(const ModelConfig& cfg, Generator& gen) {
  const std::int64_t w = 64 * cfg.width_mult;
  return std::make_shared<ResNet>(std::vector<std::int64_t>{2, 2, 2, 2},
                                  std::vector<std::int64_t>{w, 2 * w, 4 * w, 8 * w}, cfg, gen);
}

}  // namespace nn
}  // namespace kdcu
