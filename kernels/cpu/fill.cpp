#include "kernels/cpu/fill.h"

#include "core/philox.h"
#include "kernels/dispatch.h"

namespace kdcu {
namespace kernels {
namespace cpu {

template <class T>
void fill(T* out, std::int64_t n, T value) {
#pragma omp parallel for if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) out[i] = value;
}

template <class T>
void arange(T* out, std::int64_t n, double start, double step) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(start + static_cast<double>(i) * step);
}

template <class Src, class Dst>
void cast(const Src* in, Dst* out, std::int64_t n) {
#pragma omp parallel for if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<Dst>(in[i]);
}

template <class T>
void uniform(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t block0, T lo, T hi) {
  const T span = hi - lo;
#pragma omp parallel for if (n > kParallelGrain / 8)
  for (std::int64_t i = 0; i < n; ++i) {
    const auto k = static_cast<std::uint64_t>(i);
    if constexpr (sizeof(T) == 4) {
      out[i] = lo + span * philox::uniform_f32(seed, block0, k);
    } else {
      out[i] = lo + span * philox::uniform_f64(seed, block0, k);
    }
  }
}

template <class T>
void normal(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t block0, T mean, T stddev) {
#pragma omp parallel for if (n > kParallelGrain / 8)
  for (std::int64_t i = 0; i < n; ++i) {
    const auto k = static_cast<std::uint64_t>(i);
    if constexpr (sizeof(T) == 4) {
      out[i] = mean + stddev * philox::normal_f32(seed, block0, k);
    } else {
      out[i] = mean + stddev * philox::normal_f64(seed, block0, k);
    }
  }
}

template void fill<float>(float*, std::int64_t, float);
template void fill<double>(double*, std::int64_t, double);
template void fill<std::int64_t>(std::int64_t*, std::int64_t, std::int64_t);
template void arange<float>(float*, std::int64_t, double, double);
template void arange<double>(double*, std::int64_t, double, double);
template void arange<std::int64_t>(std::int64_t*, std::int64_t, double, double);
template void uniform<float>(float*, std::int64_t, std::uint64_t, std::uint64_t, float, float);
template void uniform<double>(double*, std::int64_t, std::uint64_t, std::uint64_t, double, double);
template void normal<float>(float*, std::int64_t, std::uint64_t, std::uint64_t, float, float);
template void normal<double>(double*, std::int64_t, std::uint64_t, std::uint64_t, double, double);
#define KDCU_CAST(S, D) template void cast<S, D>(const S*, D*, std::int64_t);
KDCU_CAST(float, double)
KDCU_CAST(double, float)
KDCU_CAST(float, std::int64_t)
KDCU_CAST(double, std::int64_t)
KDCU_CAST(std::int64_t, float)
KDCU_CAST(std::int64_t, double)
KDCU_CAST(float, float)
KDCU_CAST(double, double)
KDCU_CAST(std::int64_t, std::int64_t)
#undef KDCU_CAST

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
