// Transpose CPU kernel: one task per output run of `inner` contiguous elements, so the writes are
// sequential and each read run is contiguous too when inner > 1 (the 2-D case is a strided gather).
#include "kernels/cpu/transpose.h"

#include "kernels/dispatch.h"

namespace kdcu {
namespace kernels {
namespace cpu {

template <class T>
void transpose(const T* x, T* y, std::int64_t outer, std::int64_t a, std::int64_t mid, std::int64_t b,
               std::int64_t inner) {
  const std::int64_t runs = outer * b * mid * a;
#pragma omp parallel for if (runs * inner > kParallelGrain)
  for (std::int64_t r = 0; r < runs; ++r) {
    // r indexes y's (o, j, m, i) in row-major order.
    const std::int64_t i = r % a;
    const std::int64_t m = (r / a) % mid;
    const std::int64_t j = (r / (a * mid)) % b;
    const std::int64_t o = r / (a * mid * b);
    const T* src = x + (((o * a + i) * mid + m) * b + j) * inner;
    T* dst = y + r * inner;
    for (std::int64_t k = 0; k < inner; ++k) dst[k] = src[k];
  }
}

template void transpose<float>(const float*, float*, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                               std::int64_t);
template void transpose<double>(const double*, double*, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                                std::int64_t);

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
