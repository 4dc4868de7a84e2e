// Reduction CPU kernels. A reduction over the middle axis of (outer, n, inner) runs one task per
// (o, block of kColumns columns): the task walks j = 0..n-1 in order with one double accumulator
// per column, so rows are read contiguously and every output's summation order is fixed.
#include "kernels/cpu/reduce.h"

#include <cmath>

namespace kdcu {
namespace kernels {
namespace cpu {
namespace {

constexpr std::int64_t kColumns = 64;

}  // namespace

template <class T>
void sum_all_forward(const T* x, T* y, std::int64_t n, T scale) {
  const double total = ordered_sum(n, [x](std::int64_t i) { return static_cast<double>(x[i]); });
  y[0] = static_cast<T>(total * static_cast<double>(scale));
}

template <class T>
void sum_all_backward(const T* dy, T* dx, std::int64_t n, T scale) {
  const T v = dy[0] * scale;
#pragma omp parallel for if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) dx[i] = v;
}

template <class T>
void sum_forward(const T* x, T* y, std::int64_t outer, std::int64_t n, std::int64_t inner, T scale) {
  if (outer == 1 && inner == 1) {  // one long row: the chunked sum parallelises it
    sum_all_forward(x, y, n, scale);
    return;
  }
  const std::int64_t blocks = (inner + kColumns - 1) / kColumns;
  const std::int64_t tasks = outer * blocks;
#pragma omp parallel for if (outer * n * inner > kParallelGrain)
  for (std::int64_t task = 0; task < tasks; ++task) {
    const std::int64_t o = task / blocks;
    const std::int64_t k0 = (task % blocks) * kColumns;
    const std::int64_t width = std::min(kColumns, inner - k0);
    double acc[kColumns] = {};
    for (std::int64_t j = 0; j < n; ++j) {
      const T* row = x + (o * n + j) * inner + k0;
      for (std::int64_t k = 0; k < width; ++k) acc[k] += static_cast<double>(row[k]);
    }
    for (std::int64_t k = 0; k < width; ++k)
      y[o * inner + k0 + k] = static_cast<T>(acc[k] * static_cast<double>(scale));
  }
}

template <class T>
void sum_backward(const T* dy, T* dx, std::int64_t outer, std::int64_t n, std::int64_t inner, T scale) {
  const std::int64_t rows = outer * n;
#pragma omp parallel for if (rows * inner > kParallelGrain)
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* g = dy + (r / n) * inner;
    T* d = dx + r * inner;
    for (std::int64_t k = 0; k < inner; ++k) d[k] = g[k] * scale;
  }
}

template <class T>
void max_forward(const T* x, T* y, std::int64_t* idx, std::int64_t outer, std::int64_t n, std::int64_t inner) {
  const std::int64_t blocks = (inner + kColumns - 1) / kColumns;
  const std::int64_t tasks = outer * blocks;
#pragma omp parallel for if (outer * n * inner > kParallelGrain)
  for (std::int64_t task = 0; task < tasks; ++task) {
    const std::int64_t o = task / blocks;
    const std::int64_t k0 = (task % blocks) * kColumns;
    const std::int64_t width = std::min(kColumns, inner - k0);
    const T* base = x + o * n * inner + k0;
    T best[kColumns];
    std::int64_t at[kColumns];
    for (std::int64_t k = 0; k < width; ++k) best[k] = base[k], at[k] = 0;
    for (std::int64_t j = 1; j < n; ++j) {
      const T* row = base + j * inner;
      for (std::int64_t k = 0; k < width; ++k) {
        // PyTorch's rule: strictly greater replaces (ties keep the first index); a NaN replaces
        // any number, and once the max is NaN nothing replaces it (the first NaN is reported).
        if (!(row[k] <= best[k]) && !std::isnan(best[k])) best[k] = row[k], at[k] = j;
      }
    }
    for (std::int64_t k = 0; k < width; ++k) {
      if (y) y[o * inner + k0 + k] = best[k];
      idx[o * inner + k0 + k] = at[k];
    }
  }
}

template <class T>
void max_backward(const T* dy, const std::int64_t* idx, T* dx, std::int64_t outer, std::int64_t n, std::int64_t inner) {
#pragma omp parallel for if (outer * n * inner > kParallelGrain)
  for (std::int64_t o = 0; o < outer; ++o) {
    T* d = dx + o * n * inner;
    std::fill(d, d + n * inner, T(0));
    for (std::int64_t k = 0; k < inner; ++k) d[idx[o * inner + k] * inner + k] = dy[o * inner + k];
  }
}

#define KDCU_INSTANTIATE(T)                                                                            \
  template void sum_all_forward<T>(const T*, T*, std::int64_t, T);                                     \
  template void sum_all_backward<T>(const T*, T*, std::int64_t, T);                                    \
  template void sum_forward<T>(const T*, T*, std::int64_t, std::int64_t, std::int64_t, T);             \
  template void sum_backward<T>(const T*, T*, std::int64_t, std::int64_t, std::int64_t, T);            \
  template void max_forward<T>(const T*, T*, std::int64_t*, std::int64_t, std::int64_t, std::int64_t); \
  template void max_backward<T>(const T*, const std::int64_t*, T*, std::int64_t, std::int64_t, std::int64_t);
KDCU_INSTANTIATE(float)
KDCU_INSTANTIATE(double)
#undef KDCU_INSTANTIATE

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
