// Numerical gradient check in f64 by central differences, kink-aware (ReLU at 0, max-pool ties):
// where the one-sided differences disagree, the point is a kink and any value between them (a
// subgradient) is accepted. Checks d/d(input) of sum(w * f(inputs)) with fixed random weights w,
// for every input that requires grad, against the gradient backward() accumulates.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "core/tensor.h"

namespace kdcu {
namespace testing {

struct GradCheckOptions {
  double eps = 1e-6;
  double rtol = 1e-5;
  double atol = 1e-7;
  // A kink is declared when the one-sided slopes differ by more than this (absolute + relative).
  double kink_threshold = 1e-3;
  // More kinks than this fraction of the checked points fails the check (it would prove little).
  double max_kink_fraction = 0.1;
};

using GradFn = std::function<Tensor(const std::vector<Tensor>&)>;

// Fresh f64 CPU inputs, uniform on [lo, hi) from their own seed: `leaf` requires grad (a
// gradcheck input), `random` only when asked.
Tensor leaf(const Shape& shape, std::uint64_t seed, double lo = -2.0, double hi = 2.0);
Tensor random(const Shape& shape, std::uint64_t seed, bool requires_grad = false, double lo = -1.0, double hi = 1.0);

// `inputs` must be f64 CPU tensors; those that require grad are checked.
::testing::AssertionResult gradcheck(const GradFn& f, const std::vector<Tensor>& inputs,
                                     const GradCheckOptions& options = {});

}  // namespace testing
}  // namespace kdcu
