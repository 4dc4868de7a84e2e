// Mlp; the reference keeps dropout as a float and calls F.dropout, here it is a Dropout child
// (no state_dict entry, so the names still match).
#include "nn/mlp.h"

#include "nn/init.h"

namespace kdcu {
namespace nn {

Mlp::Mlp(const ModelConfig& cfg, const std::vector<std::int64_t>& hidden, double dropout, Generator& gen)
    : Model("Mlp", cfg) {
  require<ValueError>(!hidden.empty(), "Mlp: expected at least one hidden layer");
  const LayerOptions options{&gen, cfg.dtype};
  std::vector<std::int64_t> dims{cfg.in_channels * cfg.image_size * cfg.image_size};
  dims.insert(dims.end(), hidden.begin(), hidden.end());
  dims.push_back(cfg.num_classes);
  for (size_t i = 0; i + 1 < dims.size(); ++i)
    fcs_.push_back(
        register_module("fc" + std::to_string(i + 1), std::make_shared<Linear>(dims[i], dims[i + 1], true, options)));
  relu_ = register_module("relu", std::make_shared<ReLU>());
  dropout_ =
      register_module("dropout", std::make_shared<Dropout>(dropout, std::make_shared<Generator>(init::draw_seed(gen))));
}

Tensor Mlp::forward_features(const Tensor& x, NamedTensors* features) {
  Tensor y = x.flatten(1);
  for (size_t i = 0; i < fcs_.size(); ++i) {
    y = (*fcs_[i])(y);
    if (i + 1 == fcs_.size()) break;
    y = (*relu_)(y);
    if (features) features->emplace_back("hidden" + std::to_string(i + 1), y);
    y = (*dropout_)(y);
  }
  return y;
}

std::vector<std::string> Mlp::feature_names() const {
  std::vector<std::string> names;
  for (size_t i = 0; i + 1 < fcs_.size(); ++i) names.push_back("hidden" + std::to_string(i + 1));
  return names;
}

}  // namespace nn
}  // namespace kdcu
