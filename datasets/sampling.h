// The random draws of the datasets module: shuffles, splits and augmentation parameters, each a
// pure function of (seed, stream, epoch, index) through Philox4x32-10 (core/philox.h), so they
// do not depend on thread count or call order, and resuming at epoch k needs only (seed, k).
//   counter = (index & 0xffffffff, index >> 32, epoch, stream), key = (seed lo, seed hi)
#pragma once

#include <cstdint>
#include <vector>

#include "core/philox.h"

namespace kdcu {
namespace datasets {

// One stream per use, so that e.g. the shuffle and the augmentation of an epoch are independent.
enum class Stream : std::uint32_t { Shuffle = 1, Augment = 2, Split = 3 };

inline philox::Words draw(std::uint64_t seed, Stream stream, std::uint64_t epoch, std::uint64_t index) {
  const std::uint32_t ctr[4] = {static_cast<std::uint32_t>(index), static_cast<std::uint32_t>(index >> 32),
                                static_cast<std::uint32_t>(epoch), static_cast<std::uint32_t>(stream)};
  const std::uint32_t key[2] = {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)};
  return philox::raw(ctr, key);
}

// An integer in [0, bound) from a 32-bit word (multiply-high; the bias is below bound / 2^32).
inline std::uint32_t below(std::uint32_t word, std::uint32_t bound) {
  return static_cast<std::uint32_t>((static_cast<std::uint64_t>(word) * bound) >> 32);
}

// A permutation of [0, n): Fisher-Yates, swap i with j = uniform[0, i] drawn at counter index i
// from 64 random bits (two words), so the bias is below n / 2^64 for any n.
std::vector<std::int64_t> permutation(std::int64_t n, std::uint64_t seed, Stream stream, std::uint64_t epoch);

}  // namespace datasets
}  // namespace kdcu
