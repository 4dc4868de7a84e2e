#include "core/factories.h"

#include <algorithm>
#include <cmath>

#include "core/philox.h"
#include "kernels/cpu/fill.h"
#include "kernels/cuda/fill.h"
#include "kernels/dispatch.h"

namespace kdcu {

void fill_(const Tensor& t, double value) {
  check_defined(t, "fill_", "tensor");
  visit_any(t.dtype(), [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        t.device(), [&](auto) { kernels::cpu::fill<T>(t.data<T>(), t.numel(), static_cast<T>(value)); },
        [&](auto) { kernels::cuda::fill<T>(t.data<T>(), t.numel(), static_cast<T>(value), t.device().index); });
  });
}

Tensor zeros(const Shape& shape, DType dtype, const Device& device) {
  return full(shape, 0.0, dtype, device);
}
Tensor ones(const Shape& shape, DType dtype, const Device& device) {
  return full(shape, 1.0, dtype, device);
}

Tensor full(const Shape& shape, double value, DType dtype, const Device& device) {
  Tensor t = empty(shape, dtype, device);
  fill_(t, value);
  return t;
}

Tensor arange(double start, double end, double step, DType dtype, const Device& device) {
  require<ValueError>(step != 0.0 && std::isfinite(step), "arange: step must be finite and non-zero, found ", step);
  const double count = std::ceil((end - start) / step);
  require<ValueError>(count >= 0 && std::isfinite(count), "arange: [", start, ", ", end, ") in steps of ", step,
                      " has no elements");
  const auto n = static_cast<std::int64_t>(count);
  Tensor t = empty({n}, dtype, device);
  visit_any(dtype, [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        device, [&](auto) { kernels::cpu::arange<T>(t.data<T>(), n, start, step); },
        [&](auto) { kernels::cuda::arange<T>(t.data<T>(), n, start, step, device.index); });
  });
  return t;
}

Tensor arange(std::int64_t n, DType dtype, const Device& device) {
  return arange(0.0, static_cast<double>(n), 1.0, dtype, device);
}

namespace {
enum class Dist { Uniform, Normal };

Tensor random(const Shape& shape, Generator& gen, DType dtype, const Device& device, Dist dist, double p0, double p1) {
  Tensor t = empty(shape, dtype, device);
  const auto n = static_cast<std::uint64_t>(t.numel());
  visit_floating(dtype, dist == Dist::Uniform ? "rand" : "randn", [&](auto zero) {
    using T = decltype(zero);
    const bool f32_uniform = sizeof(T) == 4 && dist == Dist::Uniform;
    const std::uint64_t block0 =
        gen.reserve(f32_uniform ? philox::blocks_uniform_f32(n) : philox::blocks_two_per_block(n));
    const auto a = static_cast<T>(p0), b = static_cast<T>(p1);
    const std::uint64_t seed = gen.seed();
    T* out = t.data<T>();
    const auto count = static_cast<std::int64_t>(n);
    kernels::on_device(
        device,
        [&](auto) {
          if (dist == Dist::Uniform)
            kernels::cpu::uniform<T>(out, count, seed, block0, a, b);
          else
            kernels::cpu::normal<T>(out, count, seed, block0, a, b);
        },
        [&](auto) {
          if (dist == Dist::Uniform)
            kernels::cuda::uniform<T>(out, count, seed, block0, a, b, device.index);
          else
            kernels::cuda::normal<T>(out, count, seed, block0, a, b, device.index);
        });
  });
  return t;
}
}  // namespace

Tensor rand(const Shape& shape, Generator& gen, DType dtype, const Device& device, double lo, double hi) {
  return random(shape, gen, dtype, device, Dist::Uniform, lo, hi);
}
Tensor randn(const Shape& shape, Generator& gen, DType dtype, const Device& device, double mean, double stddev) {
  return random(shape, gen, dtype, device, Dist::Normal, mean, stddev);
}
Tensor rand(const Shape& shape, DType dtype, const Device& device) {
  return rand(shape, default_generator(), dtype, device);
}
Tensor randn(const Shape& shape, DType dtype, const Device& device) {
  return randn(shape, default_generator(), dtype, device);
}

template <class T>
Tensor from_vector(const std::vector<T>& values, Shape shape, const Device& device) {
  if (shape.empty()) shape = {static_cast<std::int64_t>(values.size())};
  require<ShapeError>(numel(shape) == static_cast<std::int64_t>(values.size()), "from_vector: shape ", shape_str(shape),
                      " holds ", numel(shape), " elements but ", values.size(), " were given");
  Tensor host = empty(shape, dtype_of<T>, Device::cpu());
  std::copy(values.begin(), values.end(), host.data<T>());
  return device.is_cpu() ? host : host.to(device);
}
template Tensor from_vector<float>(const std::vector<float>&, Shape, const Device&);
template Tensor from_vector<double>(const std::vector<double>&, Shape, const Device&);
template Tensor from_vector<std::int64_t>(const std::vector<std::int64_t>&, Shape, const Device&);

Tensor scalar(double value, DType dtype, const Device& device) {
  return full({}, value, dtype, device);
}

Tensor empty_like(const Tensor& t) {
  return empty(t.shape(), t.dtype(), t.device());
}
Tensor zeros_like(const Tensor& t) {
  return zeros(t.shape(), t.dtype(), t.device());
}
Tensor ones_like(const Tensor& t) {
  return ones(t.shape(), t.dtype(), t.device());
}
Tensor full_like(const Tensor& t, double value) {
  return full(t.shape(), value, t.dtype(), t.device());
}

}  // namespace kdcu
