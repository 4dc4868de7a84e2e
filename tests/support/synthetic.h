// A tiny learnable image task for training tests: class c brightens quadrant c of a noise image.
#pragma once

#include <cstdint>
#include <string>

#include "datasets/dataset.h"

namespace kdcu {
namespace testing {

// n single-channel side x side images over 4 classes (label (i * 7 + 3) % 4): uniform noise of
// amplitude 90, plus 140 in the label's quadrant. Learnable in a few steps. `seed` draws the noise.
datasets::Dataset quadrant_set(std::int64_t n, std::uint64_t seed, const std::string& name, std::int64_t side = 8);

}  // namespace testing
}  // namespace kdcu
