// The scalar math of kdcu's elementwise ops, one definition shared by the CPU loops and the CUDA
// kernels so the two backends compute the same function. Gradients are written in terms of the
// saved input x and/or output y: exp' = y, log' = 1/x, sqrt' = 1/(2y), relu' = [x > 0]
// (0 at the kink, as PyTorch), sigmoid' = y(1-y), tanh' = 1-y^2.
#pragma once

#include <cmath>
#include <type_traits>

#if defined(__CUDACC__)
#define KDCU_HD __host__ __device__ __forceinline__
#else
#define KDCU_HD inline
#endif

namespace kdcu {
namespace kernels {

enum class BinaryOp { Add, Sub, Mul, Div };
enum class UnaryOp { Neg, Exp, Log, Sqrt, Relu, Sigmoid, Tanh };

const char* unary_name(UnaryOp op);
const char* binary_name(BinaryOp op);

namespace math {
KDCU_HD float exp(float x) {
  return ::expf(x);
}
KDCU_HD double exp(double x) {
  return ::exp(x);
}
KDCU_HD float log(float x) {
  return ::logf(x);
}
KDCU_HD double log(double x) {
  return ::log(x);
}
KDCU_HD float sqrt(float x) {
  return ::sqrtf(x);
}
KDCU_HD double sqrt(double x) {
  return ::sqrt(x);
}
KDCU_HD float tanh(float x) {
  return ::tanhf(x);
}
KDCU_HD double tanh(double x) {
  return ::tanh(x);
}
KDCU_HD float pow(float x, float p) {
  return ::powf(x, p);
}
KDCU_HD double pow(double x, double p) {
  return ::pow(x, p);
}
}  // namespace math

template <BinaryOp Op, class T>
KDCU_HD T binary_fn(T a, T b) {
  if constexpr (Op == BinaryOp::Add) return a + b;
  if constexpr (Op == BinaryOp::Sub) return a - b;
  if constexpr (Op == BinaryOp::Mul) return a * b;
  if constexpr (Op == BinaryOp::Div) return a / b;
}

template <UnaryOp Op, class T>
KDCU_HD T unary_fn(T x) {
  if constexpr (Op == UnaryOp::Neg) return -x;
  if constexpr (Op == UnaryOp::Exp) return math::exp(x);
  if constexpr (Op == UnaryOp::Log) return math::log(x);
  if constexpr (Op == UnaryOp::Sqrt) return math::sqrt(x);
  if constexpr (Op == UnaryOp::Relu) return x > T(0) || x != x ? x : T(0);  // NaN stays NaN, as in PyTorch
  if constexpr (Op == UnaryOp::Sigmoid) {
    // Stable on both sides: never exponentiates a large positive number.
    if (x >= T(0)) return T(1) / (T(1) + math::exp(-x));
    const T e = math::exp(x);
    return e / (T(1) + e);
  }
  if constexpr (Op == UnaryOp::Tanh) return math::tanh(x);
}

// dx for upstream dy, given the forward's input x and output y.
template <UnaryOp Op, class T>
KDCU_HD T unary_grad(T x, T y, T dy) {
  if constexpr (Op == UnaryOp::Neg) return -dy;
  if constexpr (Op == UnaryOp::Exp) return dy * y;
  if constexpr (Op == UnaryOp::Log) return dy / x;
  if constexpr (Op == UnaryOp::Sqrt) return dy / (T(2) * y);
  if constexpr (Op == UnaryOp::Relu) return x > T(0) ? dy : T(0);
  if constexpr (Op == UnaryOp::Sigmoid) return dy * y * (T(1) - y);
  if constexpr (Op == UnaryOp::Tanh) return dy * (T(1) - y * y);
}

// Calls f(std::integral_constant-like tag) for the runtime op, so loops are compiled per op.
template <class F>
decltype(auto) visit_unary(UnaryOp op, F&& f) {
  switch (op) {
    case UnaryOp::Neg:
      return f(std::integral_constant<UnaryOp, UnaryOp::Neg>{});
    case UnaryOp::Exp:
      return f(std::integral_constant<UnaryOp, UnaryOp::Exp>{});
    case UnaryOp::Log:
      return f(std::integral_constant<UnaryOp, UnaryOp::Log>{});
    case UnaryOp::Sqrt:
      return f(std::integral_constant<UnaryOp, UnaryOp::Sqrt>{});
    case UnaryOp::Relu:
      return f(std::integral_constant<UnaryOp, UnaryOp::Relu>{});
    case UnaryOp::Sigmoid:
      return f(std::integral_constant<UnaryOp, UnaryOp::Sigmoid>{});
    case UnaryOp::Tanh:
      return f(std::integral_constant<UnaryOp, UnaryOp::Tanh>{});
  }
  return f(std::integral_constant<UnaryOp, UnaryOp::Neg>{});
}

template <class F>
decltype(auto) visit_binary(BinaryOp op, F&& f) {
  switch (op) {
    case BinaryOp::Add:
      return f(std::integral_constant<BinaryOp, BinaryOp::Add>{});
    case BinaryOp::Sub:
      return f(std::integral_constant<BinaryOp, BinaryOp::Sub>{});
    case BinaryOp::Mul:
      return f(std::integral_constant<BinaryOp, BinaryOp::Mul>{});
    case BinaryOp::Div:
      return f(std::integral_constant<BinaryOp, BinaryOp::Div>{});
  }
  return f(std::integral_constant<BinaryOp, BinaryOp::Add>{});
}

}  // namespace kernels
}  // namespace kdcu
