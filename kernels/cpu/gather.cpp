// Row gather CPU kernel: one task per output row (a contiguous copy). The backward walks the
// gradient's rows in order, so a repeated index accumulates in a fixed order.
#include "kernels/cpu/gather.h"

#include "kernels/dispatch.h"

namespace kdcu {
namespace kernels {
namespace cpu {

template <class T>
void index_rows(const T* x, const std::int64_t* idx, T* y, std::int64_t rows, std::int64_t n, std::int64_t cols) {
#pragma omp parallel for if (rows * cols > kParallelGrain)
  for (std::int64_t k = 0; k < rows; ++k) {
    const std::int64_t i = idx[k];
    T* dst = y + k * cols;
    if (i < 0 || i >= n) {
      for (std::int64_t c = 0; c < cols; ++c) dst[c] = T(0);
      continue;
    }
    const T* src = x + i * cols;
    for (std::int64_t c = 0; c < cols; ++c) dst[c] = src[c];
  }
}

template <class T>
void index_rows_backward(const T* g, const std::int64_t* idx, T* gx, std::int64_t rows, std::int64_t n,
                         std::int64_t cols) {
  const std::int64_t total = n * cols;
#pragma omp parallel for if (total > kParallelGrain)
  for (std::int64_t e = 0; e < total; ++e) gx[e] = T(0);
  for (std::int64_t k = 0; k < rows; ++k) {
    if (idx[k] < 0 || idx[k] >= n) continue;
    const T* src = g + k * cols;
    T* dst = gx + idx[k] * cols;
    for (std::int64_t c = 0; c < cols; ++c) dst[c] += src[c];
  }
}

template void index_rows<float>(const float*, const std::int64_t*, float*, std::int64_t, std::int64_t, std::int64_t);
template void index_rows<double>(const double*, const std::int64_t*, double*, std::int64_t, std::int64_t, std::int64_t);
template void index_rows<std::int64_t>(const std::int64_t*, const std::int64_t*, std::int64_t*, std::int64_t,
                                       std::int64_t, std::int64_t);
template void index_rows_backward<float>(const float*, const std::int64_t*, float*, std::int64_t, std::int64_t,
                                         std::int64_t);
template void index_rows_backward<double>(const double*, const std::int64_t*, double*, std::int64_t, std::int64_t,
                                          std::int64_t);

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
