// CnnSmall, the default student, exactly shared/reference/torch_models.py's: two stages of 3x3
// conv (padding 1, bias) + ReLU + 2x2 max-pool, then fc1 (c2 * (image_size / 4)^2 -> hidden) +
// ReLU and fc2 (hidden -> classes). 105,866 parameters for 1x28x28 inputs and 10 classes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/conv.h"
#include "nn/linear.h"
#include "nn/model.h"
#include "nn/pool.h"
#include "nn/simple_layers.h"

namespace kdcu {
namespace nn {

class CnnSmall : public Model {
 public:
  // Throws ValueError for image_size < 4 (two 2x2 pools must leave a pixel) or widths < 1.
  CnnSmall(const ModelConfig& cfg, Generator& gen, std::int64_t c1 = 16, std::int64_t c2 = 32,
           std::int64_t hidden = 64);

  // Features: "conv1" [N, c1, S/2, S/2] and "conv2" [N, c2, S/4, S/4] (each stage after its
  // pool), "hidden" [N, hidden] (after fc1 and its ReLU).
  Tensor forward_features(const Tensor& x, NamedTensors* features) override;
  std::vector<std::string> feature_names() const override { return {"conv1", "conv2", "hidden"}; }

 private:
  std::shared_ptr<Conv2d> conv1_, conv2_;
  std::shared_ptr<Linear> fc1_, fc2_;
  std::shared_ptr<ReLU> relu_;
  std::shared_ptr<MaxPool2d> pool_;
};

}  // namespace nn
}  // namespace kdcu
