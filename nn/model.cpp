// The model registry: the built-in models in a fixed order, then any added at run time. The
// table is a function-local static, built on first use, so it needs no static-initialisation
// order and cannot be dropped by the linker.
#include "nn/model.h"

#include <mutex>
#include <utility>

#include "nn/cnn_small.h"
#include "nn/dropout.h"
#include "nn/mlp.h"
#include "nn/resnet.h"

namespace kdcu {
namespace nn {
namespace {

// Models without a width option refuse a multiplier rather than silently ignoring it.
void require_no_width(const char* name, const ModelConfig& cfg) {
  require<ValueError>(cfg.width_mult == 1, name, " has no width multiplier; expected width_mult 1, found ",
                      cfg.width_mult);
}

ModelFactory cifar(std::int64_t depth, std::int64_t width = 1) {
  return [depth, width](const ModelConfig& cfg, Generator& gen) -> ModelPtr {
    ModelConfig c = cfg;
    c.width_mult *= width;
    return resnet_cifar(depth, c, gen);
  };
}

struct Registry {
  std::mutex mutex;
  std::vector<std::pair<std::string, ModelFactory>> entries;

  Registry() {
    entries = {
        {"resnet20", cifar(20)},
        {"resnet32", cifar(32)},
        {"resnet44", cifar(44)},
        {"resnet56", cifar(56)},
        {"resnet110", cifar(110)},
        {"resnet20x4", cifar(20, 4)},
        {"resnet18", [](const ModelConfig& cfg, Generator& gen) -> ModelPtr { return resnet18(cfg, gen); }},
        {"cnn_small",
         [](const ModelConfig& cfg, Generator& gen) -> ModelPtr {
           require_no_width("cnn_small", cfg);
           return std::make_shared<CnnSmall>(cfg, gen);
         }},
        {"mlp_teacher",
         [](const ModelConfig& cfg, Generator& gen) -> ModelPtr {
           require_no_width("mlp_teacher", cfg);
           return std::make_shared<Mlp>(cfg, std::vector<std::int64_t>{1200, 1200}, 0.5, gen);
         }},
        {"mlp_student",
         [](const ModelConfig& cfg, Generator& gen) -> ModelPtr {
           require_no_width("mlp_student", cfg);
           return std::make_shared<Mlp>(cfg, std::vector<std::int64_t>{800, 800}, 0.0, gen);
         }},
    };
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

std::string known_names() {
  std::string s;
  for (const std::string& n : model_names()) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

std::string ModelConfig::str() const {
  return cat("in_channels=", in_channels, " image_size=", image_size, " num_classes=", num_classes,
             " width_mult=", width_mult, " dtype=", dtype_name(dtype));
}

std::shared_ptr<Generator> Model::generator() const {
  for (const auto& [n, m] : named_modules())
    if (const auto* d = dynamic_cast<const Dropout*>(m)) return d->generator();
  return nullptr;
}

void Model::set_generator(const std::shared_ptr<Generator>& gen) {
  set_dropout_generator(*this, gen);
}

std::shared_ptr<Model> create_model(const std::string& name, const ModelConfig& cfg, Generator& gen) {
  ModelFactory factory;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    for (const auto& [n, f] : r.entries)
      if (n == name) factory = f;
  }
  if (!factory) throw ValueError(cat("unknown model '", name, "'; known models: ", known_names()));
  require<ValueError>(cfg.in_channels >= 1 && cfg.image_size >= 1 && cfg.num_classes >= 1 && cfg.width_mult >= 1, name,
                      ": expected in_channels, image_size, num_classes and width_mult >= 1, found ", cfg.str());
  require<ValueError>(is_floating(cfg.dtype), name, ": expected a floating dtype (f32 or f64), found ",
                      dtype_name(cfg.dtype));
  std::shared_ptr<Model> model = factory(cfg, gen);
  require<ValueError>(model != nullptr, "create_model: the factory of '", name, "' returned no model");
  model->name_ = name;
  return model;
}

std::vector<std::string> model_names() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<std::string> names;
  for (const auto& [n, f] : r.entries) names.push_back(n);
  return names;
}

void register_model(const std::string& name, ModelFactory factory) {
  require<ValueError>(!name.empty() && factory, "register_model: expected a name and a factory");
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (const auto& [n, f] : r.entries) require<ValueError>(n != name, "register_model: '", name, "' is taken");
  r.entries.emplace_back(name, std::move(factory));
}

}  // namespace nn
}  // namespace kdcu
