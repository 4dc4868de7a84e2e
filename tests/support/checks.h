// What every kdcu test compares with: one tolerance formula |actual - expected| <= atol + rtol*|expected|,
// rtol and atol chosen by dtype (not per test), and poisoning of outputs so that an unwritten
// element fails the comparison.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace kdcu {
namespace testing {

struct Tolerance {
  double rtol;
  double atol;
};

// f32: rtol 1e-5, atol 1e-6 (the GPU/CPU and PyTorch comparisons may scale this by `factor`
// for reductions over many terms); f64: rtol 1e-10, atol 1e-12.
Tolerance tolerance_for(DType dtype, double factor = 1.0);

// Elementwise comparison after moving both to the CPU; the message names the worst element.
::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, Tolerance tol);
::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected);

// Passes when f() throws E and the message contains `needle` (error messages are part of the API).
template <class E, class F>
::testing::AssertionResult throws_with(F&& f, const std::string& needle) {
  try {
    f();
  } catch (const E& e) {
    if (std::string(e.what()).find(needle) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "message '" << e.what() << "' lacks '" << needle << "'";
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "wrong exception type: " << e.what();
  }
  return ::testing::AssertionFailure() << "nothing was thrown";
}

// A NaN (floating) or extreme value (integer) to pre-fill outputs with.
double poison_value(DType dtype);
void poison(const Tensor& t);

// A tensor's bytes (moved to the CPU first), for bit-for-bit comparisons. Contiguous tensors only.
std::string bytes_of(const Tensor& t);
// Names of the entries of two (name, tensor) lists whose names or bytes differ, each after a space
// ("" when all are equal; "different sizes" when the lists differ in length). For state_dicts.
std::string differing(const std::vector<std::pair<std::string, Tensor>>& a,
                      const std::vector<std::pair<std::string, Tensor>>& b);

}  // namespace testing
}  // namespace kdcu
