// Tensor factories. Random factories draw from a Generator (the default one unless given), with
// the Philox mapping of core/philox.h, so a seed gives the same tensor on the CPU and on CUDA.
#pragma once

#include <cstdint>
#include <vector>

#include "core/rng.h"
#include "core/tensor.h"

namespace kdcu {

Tensor zeros(const Shape& shape, DType dtype = DType::F32, const Device& device = Device::cpu());
Tensor ones(const Shape& shape, DType dtype = DType::F32, const Device& device = Device::cpu());
Tensor full(const Shape& shape, double value, DType dtype = DType::F32, const Device& device = Device::cpu());
// [start, end) in steps of `step` (a 1-D tensor); throws ValueError for step 0 or a negative count.
Tensor arange(double start, double end, double step = 1.0, DType dtype = DType::F32,
              const Device& device = Device::cpu());
Tensor arange(std::int64_t n, DType dtype = DType::I64, const Device& device = Device::cpu());
// Uniform on [lo, hi) and normal(mean, stddev); floating dtypes only.
Tensor rand(const Shape& shape, Generator& gen, DType dtype = DType::F32, const Device& device = Device::cpu(),
            double lo = 0.0, double hi = 1.0);
Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::F32, const Device& device = Device::cpu(),
             double mean = 0.0, double stddev = 1.0);
Tensor rand(const Shape& shape, DType dtype = DType::F32, const Device& device = Device::cpu());
Tensor randn(const Shape& shape, DType dtype = DType::F32, const Device& device = Device::cpu());

// A tensor holding a copy of `values` (numel(shape) must equal values.size()); no shape means 1-D [n].
template <class T>
Tensor from_vector(const std::vector<T>& values, Shape shape = {}, const Device& device = Device::cpu());
Tensor scalar(double value, DType dtype = DType::F32, const Device& device = Device::cpu());  // shape []

Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);

// Fills t's storage in place (no autograd): used by factories, initialisers, tests (poisoning).
void fill_(const Tensor& t, double value);

}  // namespace kdcu
