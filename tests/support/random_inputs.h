// Random inputs the loss tests share: N(0, 3) logits with optional +-1e4 outliers, and class labels.
#pragma once

#include <cstdint>

#include "core/rng.h"
#include "core/tensor.h"

namespace kdcu {
namespace testing {

// f32 CPU logits ~ N(0, 3); with `outliers`, about 2 % of them replaced by -1e4 (flat index % 3 == 0)
// or +1e4 (otherwise).
Tensor outlier_logits(const Shape& shape, Generator& g, bool outliers);

// [N] i64 labels uniform over [0, C).
Tensor class_labels(std::int64_t N, std::int64_t C, Generator& g);

}  // namespace testing
}  // namespace kdcu
