// Mlp, Hinton et al.'s (2015) MNIST nets, exactly shared/reference/torch_models.py's: flatten,
// then fc1..fcK with ReLU and dropout after every layer but the last. mlp_teacher is
// 784-1200-1200-10 with dropout 0.5, mlp_student 784-800-800-10 without.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/dropout.h"
#include "nn/linear.h"
#include "nn/model.h"
#include "nn/simple_layers.h"

namespace kdcu {
namespace nn {

class Mlp : public Model {
 public:
  // in_features = in_channels * image_size^2. The Dropout layer draws from a generator of the
  // model's own, seeded from `gen` (see Model::generator). Throws ValueError for an empty `hidden`,
  // a width < 1 or dropout outside [0, 1].
  Mlp(const ModelConfig& cfg, const std::vector<std::int64_t>& hidden, double dropout, Generator& gen);

  // Features: "hidden1".."hiddenK" [N, width] (after each hidden layer's ReLU, before dropout).
  Tensor forward_features(const Tensor& x, NamedTensors* features) override;
  std::vector<std::string> feature_names() const override;

  std::int64_t in_features() const { return fcs_.front()->in_features(); }

 private:
  std::vector<std::shared_ptr<Linear>> fcs_;
  std::shared_ptr<ReLU> relu_;
  std::shared_ptr<Dropout> dropout_;
};

}  // namespace nn
}  // namespace kdcu
