// Model: a Module that is a whole network (input images -> logits) with named intermediate
// features for feature distillation, and the registry that builds models by name
// ("resnet20", "cnn_small", ...) with PyTorch-compatible state_dict names.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"
#include "nn/module.h"

namespace kdcu {
namespace nn {

struct ModelConfig {
  std::int64_t in_channels = 1;  // input images [N, in_channels, image_size, image_size]
  std::int64_t image_size = 28;
  std::int64_t num_classes = 10;
  // ResNets: multiplies the stage widths on top of the name's own (resnet20 with 4 is resnet20x4;
  // resnet20x4 with 2 has widths 128, 256, 512). Models without a width option require 1.
  std::int64_t width_mult = 1;
  DType dtype = DType::F32;  // of the parameters and buffers (f64 for gradient checks)

  std::string str() const;  // "in_channels=1 image_size=28 num_classes=10 width_mult=1 dtype=f32"
};

class Model : public Module {
 public:
  Model(std::string type_name, ModelConfig config) : Module(std::move(type_name)), config_(std::move(config)) {}

  // The logits [N, num_classes] of images [N, C, H, W]. When `features` is not null, also appends
  // the named intermediate tensors of feature_names(), in that order (they are part of the graph:
  // a loss on them back-propagates into the model).
  virtual Tensor forward_features(const Tensor& x, NamedTensors* features) = 0;
  Tensor forward(const Tensor& x) override { return forward_features(x, nullptr); }
  virtual std::vector<std::string> feature_names() const = 0;

  const ModelConfig& config() const { return config_; }
  Shape input_shape() const { return {config_.in_channels, config_.image_size, config_.image_size}; }  // per image
  // The registry name ("resnet20"); empty for a model built directly rather than by create_model.
  const std::string& name() const { return name_; }

  // The generator the model's Dropout layers draw from (see nn/dropout.h): what a training
  // checkpoint saves (seed, offset) and restores. Null when the model has no Dropout.
  std::shared_ptr<Generator> generator() const;
  // Makes every Dropout in the model draw from `gen` (null: the process default generator).
  void set_generator(const std::shared_ptr<Generator>& gen);

 private:
  friend std::shared_ptr<Model> create_model(const std::string&, const ModelConfig&, Generator&);
  ModelConfig config_;
  std::string name_;
};

using ModelPtr = std::shared_ptr<Model>;

// Builds a freshly initialised model by registry name; `gen` draws every initial weight (and the
// seed of the model's own dropout generator), so the same seed gives the same model. Throws
// ValueError for an unknown name (listing the known ones) or an invalid config.
std::shared_ptr<Model> create_model(const std::string& name, const ModelConfig& cfg, Generator& gen);

// The registered names, built-ins first in a fixed order, then any added by register_model.
std::vector<std::string> model_names();

// Adds a model to the registry (e.g. an experiment's own student). ValueError when the name is
// taken or empty.
using ModelFactory = std::function<std::shared_ptr<Model>(const ModelConfig&, Generator&)>;
void register_model(const std::string& name, ModelFactory factory);

}  // namespace nn
}  // namespace kdcu
