// Transpose on CUDA. inner == 1 (the swapped dims are innermost in their runs): 32x32 tiles staged
// in shared memory (padded against bank conflicts), so both the reads of x's rows and the writes
// of y's rows are coalesced; one plane (o, m) at a time, grid-stride over tiles and planes.
// inner > 1: one thread per output element, contiguous runs of `inner` on both sides.
#include "core/cuda_check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/transpose.h"

namespace kdcu {
namespace kernels {
namespace cuda {
namespace {

constexpr int kTile = 32, kTileRows = 8;  // block (32, 8): each thread moves 4 elements per tile

// Plane p = (o, m): x(i, j) = x[(o*a*mid + m)*b + i*mid*b + j], y(j, i) = y[(o*b*mid + m)*a + j*mid*a + i].
template <class T>
__global__ void transpose_tiled_kernel(const T* __restrict__ x, T* __restrict__ y, std::int64_t planes, std::int64_t a,
                                       std::int64_t mid, std::int64_t b) {
  __shared__ T tile[kTile][kTile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (std::int64_t p = blockIdx.z; p < planes; p += gridDim.z) {
    const std::int64_t o = p / mid, m = p % mid;
    const T* xp = x + (o * a * mid + m) * b;
    T* yp = y + (o * b * mid + m) * a;
    for (std::int64_t i0 = static_cast<std::int64_t>(blockIdx.y) * kTile; i0 < a;
         i0 += static_cast<std::int64_t>(gridDim.y) * kTile) {
      for (std::int64_t j0 = static_cast<std::int64_t>(blockIdx.x) * kTile; j0 < b;
           j0 += static_cast<std::int64_t>(gridDim.x) * kTile) {
        for (int r = 0; r < kTile; r += kTileRows) {
          const std::int64_t i = i0 + ty + r, j = j0 + tx;
          if (i < a && j < b) tile[ty + r][tx] = xp[i * mid * b + j];
        }
        __syncthreads();
        for (int r = 0; r < kTile; r += kTileRows) {
          const std::int64_t j = j0 + ty + r, i = i0 + tx;
          if (i < a && j < b) yp[j * mid * a + i] = tile[tx][ty + r];
        }
        __syncthreads();  // the tile is refilled next round
      }
    }
  }
}

// y flat index -> (o, j, m, i, k) -> x.
template <class T>
__global__ void transpose_runs_kernel(const T* __restrict__ x, T* __restrict__ y, std::int64_t total, std::int64_t a,
                                      std::int64_t mid, std::int64_t b, std::int64_t inner) {
  for (const std::int64_t e : grid_stride(total)) {
    const std::int64_t k = e % inner, r = e / inner;
    const std::int64_t i = r % a, m = (r / a) % mid, j = (r / (a * mid)) % b, o = r / (a * mid * b);
    y[e] = x[((((o * a + i) * mid + m) * b + j) * inner) + k];
  }
}

unsigned capped(std::int64_t n, std::int64_t cap) {
  return static_cast<unsigned>(n < cap ? n : cap);
}

}  // namespace

template <class T>
void transpose(const T* x, T* y, std::int64_t outer, std::int64_t a, std::int64_t mid, std::int64_t b,
               std::int64_t inner, int device) {
  if (inner == 1) {
    const dim3 grid(capped((b + kTile - 1) / kTile, 1 << 16), capped((a + kTile - 1) / kTile, 65535),
                    capped(outer * mid, 65535));
    kdcu::cuda::launch("transpose", transpose_tiled_kernel<T>, grid, dim3(kTile, kTileRows), 0, device, x, y,
                       outer * mid, a, mid, b);
    return;
  }
  const std::int64_t total = outer * a * mid * b * inner;
  kdcu::cuda::launch("transpose", transpose_runs_kernel<T>, grid_for(total), kThreads, 0, device, x, y, total, a, mid,
                     b, inner);
}

template void transpose<float>(const float*, float*, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                               std::int64_t, int);
template void transpose<double>(const double*, double*, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                                std::int64_t, int);

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
