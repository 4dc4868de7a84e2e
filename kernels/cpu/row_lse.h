// The log-sum-exp of one contiguous row, shared by the CPU loss kernels (loss.cpp, kd_loss.cpp).
#pragma once

#include <cmath>
#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cpu {

// max_c x[c] and log sum_c exp((x[c] - max) * inv_t) of one contiguous row, so that
// log softmax(x / T)[c] = (x[c] - max) * inv_t - log_sum.
struct RowLse {
  double max = -INFINITY;
  double log_sum = 0.0;
  double log_p(double x, double inv_t) const { return (x - max) * inv_t - log_sum; }
};

template <class T>
RowLse row_lse(const T* x, std::int64_t C, double inv_t) {
  RowLse r;
  for (std::int64_t c = 0; c < C; ++c) r.max = std::fmax(r.max, static_cast<double>(x[c]));
  double s = 0.0;
  for (std::int64_t c = 0; c < C; ++c) s += std::exp((static_cast<double>(x[c]) - r.max) * inv_t);
  r.log_sum = std::log(s);
  return r;
}

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
