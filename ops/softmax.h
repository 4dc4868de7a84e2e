// Differentiable softmax(x / T) and log_softmax(x / T) along one dim, the temperature T fused
// into the kernel (no separate divide pass). Both save only their output for backward.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace kdcu {
namespace ops {

// T must be finite and > 0 (ValueError otherwise); dim may be negative.
Tensor softmax(const Tensor& x, std::int64_t dim = -1, double temperature = 1.0);
Tensor log_softmax(const Tensor& x, std::int64_t dim = -1, double temperature = 1.0);

// Throws ValueError naming `op` and the value unless T is finite and > 0 (shared with the KD loss).
void check_temperature(double temperature, const char* op);

}  // namespace ops
}  // namespace kdcu
