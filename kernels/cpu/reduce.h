// Reduction CPU kernels: y = scale * sum(x) over all elements or over the middle axis of an
// (outer, n, inner) view, the max over that axis with its first index, and their backward passes.
// Sums accumulate in double; nothing is saved here (the ops keep the argmax indices for backward).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/dispatch.h"

namespace kdcu {
namespace kernels {
namespace cpu {

// Elements per partial sum of ordered_sum. Fixed, so the partials (and the order in which they
// are added) never depend on the thread count: a sum is bitwise the same on 1 or 16 threads.
inline constexpr std::int64_t kSumChunk = 1 << 12;

// sum_{i < n} term(i) in double: serial within a chunk of kSumChunk terms, chunks in parallel,
// partials added in chunk order. `term` must be safe to call from several threads.
template <class Term>
double ordered_sum(std::int64_t n, Term&& term) {
  if (n <= 0) return 0.0;
  const std::int64_t chunks = (n + kSumChunk - 1) / kSumChunk;
  std::vector<double> partial(static_cast<size_t>(chunks));
#pragma omp parallel for if (n > kParallelGrain)
  for (std::int64_t c = 0; c < chunks; ++c) {
    const std::int64_t end = std::min(n, (c + 1) * kSumChunk);
    double acc = 0.0;
    for (std::int64_t i = c * kSumChunk; i < end; ++i) acc += term(i);
    partial[static_cast<size_t>(c)] = acc;
  }
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

// y[0] = scale * sum_i x[i].  x: (n), y: (1)
template <class T>
void sum_all_forward(const T* x, T* y, std::int64_t n, T scale);
// dx[i] = scale * dy[0].  dy: (1), dx: (n)
template <class T>
void sum_all_backward(const T* dy, T* dx, std::int64_t n, T scale);

// y[o, k] = scale * sum_j x[o, j, k].  x: (outer, n, inner), y: (outer, inner)
template <class T>
void sum_forward(const T* x, T* y, std::int64_t outer, std::int64_t n, std::int64_t inner, T scale);
// dx[o, j, k] = scale * dy[o, k].  dy: (outer, inner), dx: (outer, n, inner)
template <class T>
void sum_backward(const T* dy, T* dx, std::int64_t outer, std::int64_t n, std::int64_t inner, T scale);

// y[o, k] = max_j x[o, j, k] and idx[o, k] = the first j that attains it; a NaN wins over any
// number (the first NaN), as in PyTorch. y may be null (argmax). Requires n > 0.
// x: (outer, n, inner), y: (outer, inner), idx: (outer, inner)
template <class T>
void max_forward(const T* x, T* y, std::int64_t* idx, std::int64_t outer, std::int64_t n, std::int64_t inner);
// dx = 0 except dx[o, idx[o, k], k] = dy[o, k].  dy, idx: (outer, inner), dx: (outer, n, inner)
template <class T>
void max_backward(const T* dy, const std::int64_t* idx, T* dx, std::int64_t outer, std::int64_t n, std::int64_t inner);

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
