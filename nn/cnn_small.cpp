// CnnSmall; parameters registered in the reference's order (conv1, conv2, fc1, fc2), PyTorch's
// default initialisation throughout.
#include "nn/cnn_small.h"

namespace kdcu {
namespace nn {

CnnSmall::CnnSmall(const ModelConfig& cfg, Generator& gen, std::int64_t c1, std::int64_t c2, std::int64_t hidden)
    : Model("CnnSmall", cfg) {
  require<ValueError>(cfg.image_size >= 4, "cnn_small: expected image_size >= 4 (two 2x2 max-pools), found ",
                      cfg.image_size);
  require<ValueError>(c1 >= 1 && c2 >= 1 && hidden >= 1, "cnn_small: expected widths >= 1, found c1 ", c1, ", c2 ", c2,
                      ", hidden ", hidden);
  const LayerOptions options{&gen, cfg.dtype};
  const std::int64_t side = cfg.image_size / 4;  // floor twice = floor once: floor(floor(s / 2) / 2) = floor(s / 4)
  conv1_ = register_module("conv1", std::make_shared<Conv2d>(cfg.in_channels, c1, 3, 1, 1, 1, true, options));
  conv2_ = register_module("conv2", std::make_shared<Conv2d>(c1, c2, 3, 1, 1, 1, true, options));
  fc1_ = register_module("fc1", std::make_shared<Linear>(c2 * side * side, hidden, true, options));
  fc2_ = register_module("fc2", std::make_shared<Linear>(hidden, cfg.num_classes, true, options));
  relu_ = register_module("relu", std::make_shared<ReLU>());
  pool_ = register_module("pool", std::make_shared<MaxPool2d>(2));
}

Tensor CnnSmall::forward_features(const Tensor& x, NamedTensors* features) {
  Tensor y = (*pool_)((*relu_)((*conv1_)(x)));
  if (features) features->emplace_back("conv1", y);
  y = (*pool_)((*relu_)((*conv2_)(y)));
  if (features) features->emplace_back("conv2", y);
  y = (*relu_)((*fc1_)(y.flatten(1)));
  if (features) features->emplace_back("hidden", y);
  return (*fc2_)(y);
}

}  // namespace nn
}  // namespace kdcu
