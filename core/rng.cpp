#include "core/rng.h"

namespace kdcu {

Generator& default_generator() {
  static Generator g(0);
  return g;
}

void manual_seed(std::uint64_t seed) {
  default_generator().set_state(seed, 0);
}

}  // namespace kdcu
