// Sequential: children in order.
#include "nn/sequential.h"

namespace kdcu {
namespace nn {

Sequential::Sequential(std::vector<ModulePtr> modules) : Module("Sequential") {
  for (auto& m : modules) push_back(std::move(m));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const ModulePtr& m : layers_) y = (*m)(y);
  return y;
}

const ModulePtr& Sequential::at(std::int64_t i) const {
  const std::int64_t n = size();
  require<ValueError>(i >= -n && i < n, "Sequential: index ", i, " out of range for ", n, " modules");
  return layers_[static_cast<size_t>(i < 0 ? i + n : i)];
}

}  // namespace nn
}  // namespace kdcu
