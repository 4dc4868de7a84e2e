#include "tests/support/synthetic.h"

#include <vector>

#include "core/factories.h"
#include "core/rng.h"

namespace kdcu {
namespace testing {

datasets::Dataset quadrant_set(std::int64_t n, std::uint64_t seed, const std::string& name, std::int64_t side) {
  constexpr std::int64_t kClasses = 4;
  datasets::Dataset d;
  d.name = name;
  d.channels = 1;
  d.height = d.width = side;
  d.num_classes = kClasses;
  Generator gen(seed);
  const std::vector<float> noise = rand({n * side * side}, gen).to_vector<float>();
  const std::int64_t half = side / 2;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t c = (i * 7 + 3) % kClasses;
    d.labels.push_back(c);
    for (std::int64_t y = 0; y < side; ++y)
      for (std::int64_t x = 0; x < side; ++x) {
        const std::int64_t q = (y / half) * 2 + x / half;
        const double v = 90.0 * noise[static_cast<size_t>((i * side + y) * side + x)] + (q == c ? 140.0 : 0.0);
        d.images.push_back(static_cast<std::uint8_t>(v));
      }
  }
  d.validate();
  return d;
}

}  // namespace testing
}  // namespace kdcu
