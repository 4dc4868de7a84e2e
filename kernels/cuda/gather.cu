// Row gather on CUDA: one thread per output element (coalesced within a row). The backward
// zero-fills gx with a grid-stride pass, then one thread per column walks the gradient's rows in
// order (deterministic; the parallelism is the row length, enough for images and logits).
#include "core/cuda_check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/gather.h"

namespace kdcu {
namespace kernels {
namespace cuda {
namespace {

template <class T>
__global__ void index_rows_kernel(const T* __restrict__ x, const std::int64_t* __restrict__ idx, T* __restrict__ y,
                                  std::int64_t total, std::int64_t n, std::int64_t cols) {
  for (const std::int64_t e : grid_stride(total)) {
    const std::int64_t k = e / cols, c = e % cols;
    const std::int64_t i = idx[k];
    y[e] = (i >= 0 && i < n) ? x[i * cols + c] : T(0);
  }
}

template <class T>
__global__ void zero_kernel(T* __restrict__ y, std::int64_t total) {
  for (const std::int64_t e : grid_stride(total)) y[e] = T(0);
}

template <class T>
__global__ void index_add_columns_kernel(const T* __restrict__ g, const std::int64_t* __restrict__ idx,
                                         T* __restrict__ gx, std::int64_t rows, std::int64_t n, std::int64_t cols) {
  for (const std::int64_t c : grid_stride(cols)) {
    for (std::int64_t k = 0; k < rows; ++k) {
      const std::int64_t i = idx[k];
      if (i >= 0 && i < n) gx[i * cols + c] += g[k * cols + c];
    }
  }
}

}  // namespace

template <class T>
void index_rows(const T* x, const std::int64_t* idx, T* y, std::int64_t rows, std::int64_t n, std::int64_t cols,
                int device) {
  const std::int64_t total = rows * cols;
  kdcu::cuda::launch("index_rows", index_rows_kernel<T>, grid_for(total), kThreads, 0, device, x, idx, y, total, n,
                     cols);
}

template <class T>
void index_rows_backward(const T* g, const std::int64_t* idx, T* gx, std::int64_t rows, std::int64_t n,
                         std::int64_t cols, int device) {
  const std::int64_t total = n * cols;
  kdcu::cuda::launch("index_rows backward", zero_kernel<T>, grid_for(total), kThreads, 0, device, gx, total);
  kdcu::cuda::launch("index_rows backward", index_add_columns_kernel<T>, grid_for(cols), kThreads, 0, device, g, idx,
                     gx, rows, n, cols);
}

template void index_rows<float>(const float*, const std::int64_t*, float*, std::int64_t, std::int64_t, std::int64_t,
                                int);
template void index_rows<double>(const double*, const std::int64_t*, double*, std::int64_t, std::int64_t, std::int64_t,
                                 int);
template void index_rows<std::int64_t>(const std::int64_t*, const std::int64_t*, std::int64_t*, std::int64_t,
                                       std::int64_t, std::int64_t, int);
template void index_rows_backward<float>(const float*, const std::int64_t*, float*, std::int64_t, std::int64_t,
                                         std::int64_t, int);
template void index_rows_backward<double>(const double*, const std::int64_t*, double*, std::int64_t, std::int64_t,
                                          std::int64_t, int);

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
