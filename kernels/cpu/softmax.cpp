// Softmax CPU kernels: one task per row (o, k), whose n elements lie `inner` apart. Each row
// takes three passes (max, sum of exponentials, write) with every intermediate in double, so
// the f32 kernel is as accurate as rounding the f64 result; rows are independent, so the result
// does not depend on the thread count.
#include "kernels/cpu/softmax.h"

#include <cmath>

#include "kernels/dispatch.h"

namespace kdcu {
namespace kernels {
namespace cpu {
namespace {

// Calls row(first, stride) for every row of (outer, n, inner): elements first[j * stride].
template <class Row>
void for_each_row(std::int64_t outer, std::int64_t n, std::int64_t inner, Row&& row) {
  const std::int64_t rows = outer * inner;
#pragma omp parallel for if (rows * n > kParallelGrain)
  for (std::int64_t r = 0; r < rows; ++r) row((r / inner) * n * inner + r % inner, inner);
}

// max_j x_j over a strided row, in double (a NaN in the row comes out as NaN later anyway).
template <class T>
double row_max(const T* x, std::int64_t n, std::int64_t stride) {
  double m = -INFINITY;
  for (std::int64_t j = 0; j < n; ++j) m = std::fmax(m, static_cast<double>(x[j * stride]));
  return m;
}

// sum_j exp((x_j - m) * inv_t): every term is <= 1 and one is exactly 1, so it cannot overflow.
template <class T>
double row_sum_exp(const T* x, std::int64_t n, std::int64_t stride, double m, double inv_t) {
  double s = 0.0;
  for (std::int64_t j = 0; j < n; ++j) s += std::exp((static_cast<double>(x[j * stride]) - m) * inv_t);
  return s;
}

}  // namespace

template <class T>
void softmax_forward(const T* x, T* y, std::int64_t outer, std::int64_t n, std::int64_t inner, T inv_temperature) {
  const double inv_t = static_cast<double>(inv_temperature);
  for_each_row(outer, n, inner, [&](std::int64_t first, std::int64_t stride) {
    const T* xr = x + first;
    T* yr = y + first;
    const double m = row_max(xr, n, stride);
    const double inv_s = 1.0 / row_sum_exp(xr, n, stride, m, inv_t);
    for (std::int64_t j = 0; j < n; ++j)
      yr[j * stride] = static_cast<T>(std::exp((static_cast<double>(xr[j * stride]) - m) * inv_t) * inv_s);
  });
}

template <class T>
void log_softmax_forward(const T* x, T* y, std::int64_t outer, std::int64_t n, std::int64_t inner, T inv_temperature) {
  const double inv_t = static_cast<double>(inv_temperature);
  for_each_row(outer, n, inner, [&](std::int64_t first, std::int64_t stride) {
    const T* xr = x + first;
    T* yr = y + first;
    const double m = row_max(xr, n, stride);
    const double log_s = std::log(row_sum_exp(xr, n, stride, m, inv_t));
    for (std::int64_t j = 0; j < n; ++j)
      yr[j * stride] = static_cast<T>((static_cast<double>(xr[j * stride]) - m) * inv_t - log_s);
  });
}

template <class T>
void softmax_backward(const T* y, const T* dy, T* dx, std::int64_t outer, std::int64_t n, std::int64_t inner,
                      T inv_temperature) {
  const double inv_t = static_cast<double>(inv_temperature);
  for_each_row(outer, n, inner, [&](std::int64_t first, std::int64_t stride) {
    const T *yr = y + first, *gr = dy + first;
    double dot = 0.0;
    for (std::int64_t j = 0; j < n; ++j)
      dot += static_cast<double>(gr[j * stride]) * static_cast<double>(yr[j * stride]);
    for (std::int64_t j = 0; j < n; ++j) {
      const std::int64_t i = first + j * stride;
      dx[i] = static_cast<T>(static_cast<double>(y[i]) * (static_cast<double>(dy[i]) - dot) * inv_t);
    }
  });
}

template <class T>
void log_softmax_backward(const T* y, const T* dy, T* dx, std::int64_t outer, std::int64_t n, std::int64_t inner,
                          T inv_temperature) {
  const double inv_t = static_cast<double>(inv_temperature);
  for_each_row(outer, n, inner, [&](std::int64_t first, std::int64_t stride) {
    double sum_g = 0.0;
    for (std::int64_t j = 0; j < n; ++j) sum_g += static_cast<double>(dy[first + j * stride]);
    for (std::int64_t j = 0; j < n; ++j) {
      const std::int64_t i = first + j * stride;
      dx[i] = static_cast<T>((static_cast<double>(dy[i]) - std::exp(static_cast<double>(y[i])) * sum_g) * inv_t);
    }
  });
}

#define KDCU_INSTANTIATE(T)                                                                               \
  template void softmax_forward<T>(const T*, T*, std::int64_t, std::int64_t, std::int64_t, T);            \
  template void log_softmax_forward<T>(const T*, T*, std::int64_t, std::int64_t, std::int64_t, T);        \
  template void softmax_backward<T>(const T*, const T*, T*, std::int64_t, std::int64_t, std::int64_t, T); \
  template void log_softmax_backward<T>(const T*, const T*, T*, std::int64_t, std::int64_t, std::int64_t, T);
KDCU_INSTANTIATE(float)
KDCU_INSTANTIATE(double)
#undef KDCU_INSTANTIATE

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
