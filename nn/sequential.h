// Sequential: children called in order, named "0", "1", ... as PyTorch's nn.Sequential, so a
// state_dict reads "layer1.0.conv1.weight". Its own FLOPs are 0 (its children report theirs).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/module.h"

namespace kdcu {
namespace nn {

class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  explicit Sequential(std::vector<ModulePtr> modules);

  // Appends `m` as child "<size()>" and returns it (typed, so `auto conv = seq.push_back(...)` works).
  template <class M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> m) {
    layers_.push_back(register_module(std::to_string(layers_.size()), m));
    return m;
  }

  // Each child's operator() in turn (so a summary sees every child); the input when empty.
  Tensor forward(const Tensor& x) override;

  std::int64_t size() const { return static_cast<std::int64_t>(layers_.size()); }
  bool empty() const { return layers_.empty(); }
  // Throws ValueError for an index outside [-size, size) (negative counts from the end).
  Module& operator[](std::int64_t i) const { return *at(i); }
  const ModulePtr& at(std::int64_t i) const;
  std::vector<ModulePtr>::const_iterator begin() const { return layers_.begin(); }
  std::vector<ModulePtr>::const_iterator end() const { return layers_.end(); }

 private:
  std::vector<ModulePtr> layers_;
};

}  // namespace nn
}  // namespace kdcu
