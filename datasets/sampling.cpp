// Seeded permutations for shuffling and splitting (see sampling.h for the counter layout).
#include "datasets/sampling.h"

#include <numeric>
#include <utility>

namespace kdcu {
namespace datasets {

std::vector<std::int64_t> permutation(std::int64_t n, std::uint64_t seed, Stream stream, std::uint64_t epoch) {
  std::vector<std::int64_t> p(static_cast<size_t>(n > 0 ? n : 0));
  std::iota(p.begin(), p.end(), std::int64_t{0});
  for (std::int64_t i = n - 1; i > 0; --i) {
    const philox::Words w = draw(seed, stream, epoch, static_cast<std::uint64_t>(i));
    const std::uint64_t bits = (static_cast<std::uint64_t>(w.w[0]) << 32) | w.w[1];
    const auto j =
        static_cast<std::int64_t>((static_cast<unsigned __int128>(bits) * static_cast<std::uint64_t>(i + 1)) >> 64);
    std::swap(p[static_cast<size_t>(i)], p[static_cast<size_t>(j)]);
  }
  return p;
}

}  // namespace datasets
}  // namespace kdcu
