#include "tests/support/random_inputs.h"

#include <algorithm>
#include <vector>

#include "core/factories.h"

namespace kdcu {
namespace testing {

Tensor outlier_logits(const Shape& shape, Generator& g, bool outliers) {
  const Tensor x = randn(shape, g, DType::F32, Device::cpu(), 0.0, 3.0);
  if (!outliers) return x;
  std::vector<float> v = x.to_vector<float>();
  const std::vector<float> u = rand(shape, g).to_vector<float>();
  for (size_t i = 0; i < v.size(); ++i)
    if (u[i] < 0.02f) v[i] = (i % 3 == 0) ? -1e4f : 1e4f;
  return from_vector<float>(v, shape);
}

Tensor class_labels(std::int64_t N, std::int64_t C, Generator& g) {
  std::vector<std::int64_t> y;
  for (float u : rand({N}, g).to_vector<float>())
    y.push_back(std::min<std::int64_t>(C - 1, static_cast<std::int64_t>(u * static_cast<float>(C))));
  return from_vector<std::int64_t>(y);
}

}  // namespace testing
}  // namespace kdcu
