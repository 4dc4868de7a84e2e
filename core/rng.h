// kdcu's random number generator: a seed plus a position (the next unused Philox block).
// Every random tensor reserves a range of blocks, so the state is two integers, saved in
// checkpoints and restored exactly. See core/philox.h for the algorithm and the element mapping.
#pragma once

#include <cstdint>

namespace kdcu {

class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0) : seed_(seed) {}

  std::uint64_t seed() const { return seed_; }
  std::uint64_t offset() const { return offset_; }
  void set_state(std::uint64_t seed, std::uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }
  // Reserves `blocks` Philox blocks and returns the first one's index.
  std::uint64_t reserve(std::uint64_t blocks) {
    const std::uint64_t first = offset_;
    offset_ += blocks;
    return first;
  }

 private:
  std::uint64_t seed_ = 0;
  std::uint64_t offset_ = 0;
};

// The process-wide generator used when a caller passes none; `manual_seed` resets it.
Generator& default_generator();
void manual_seed(std::uint64_t seed);

}  // namespace kdcu
