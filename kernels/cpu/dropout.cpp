// Dropout on the CPU. Each element's uniform is a pure function of (seed, block0, i), so the mask
// does not depend on the thread count. The scale is formed as T(1) / T(1 - p), as PyTorch's CPU
// dropout does (noise.div_(1 - p)).
#include "kernels/cpu/dropout.h"

#include "core/philox.h"
#include "kernels/dispatch.h"

namespace kdcu {
namespace kernels {
namespace cpu {

template <class T>
void dropout_forward(const T* x, T* y, T* mask, std::int64_t n, double p, std::uint64_t seed, std::uint64_t block0) {
  if (p >= 1.0) {
#pragma omp parallel for if (n > kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) {
      if (mask) mask[i] = T(0);
      y[i] = x[i] * T(0);  // NaN stays NaN, as in PyTorch
    }
    return;
  }
  const T scale = T(1) / static_cast<T>(1.0 - p);
  // One Philox block gives four uniforms: walk the elements a block at a time.
  const std::int64_t blocks = (n + 3) / 4;
#pragma omp parallel for if (n > kParallelGrain / 8)
  for (std::int64_t b = 0; b < blocks; ++b) {
    const philox::Words r = philox::block(seed, block0 + static_cast<std::uint64_t>(b));
    for (std::int64_t k = 0; k < 4 && 4 * b + k < n; ++k) {
      const std::int64_t i = 4 * b + k;
      const double u = static_cast<double>(philox::to_unit_f32(r.w[k]));
      const T m = u >= p ? scale : T(0);
      if (mask) mask[i] = m;
      y[i] = x[i] * m;
    }
  }
}

template <class T>
void dropout_backward(const T* dy, const T* mask, T* dx, std::int64_t n) {
#pragma omp parallel for if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) dx[i] = dy[i] * mask[i];
}

template void dropout_forward<float>(const float*, float*, float*, std::int64_t, double, std::uint64_t, std::uint64_t);
template void dropout_forward<double>(const double*, double*, double*, std::int64_t, double, std::uint64_t,
                                      std::uint64_t);
template void dropout_backward<float>(const float*, const float*, float*, std::int64_t);
template void dropout_backward<double>(const double*, const double*, double*, std::int64_t);

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
