// Differentiable elementwise ops. Binary ops broadcast as NumPy/PyTorch do ([N,C] + [C],
// [N,C,H,W] + [1,C,1,1], ...); their backward sums the gradient back to each operand's shape.
#pragma once

#include "core/tensor.h"

namespace kdcu {
namespace ops {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);

// y = alpha * x + beta; the scalar forms of + - * / are this.
Tensor affine(const Tensor& x, double alpha, double beta);
Tensor add(const Tensor& x, double s);
Tensor mul(const Tensor& x, double s);
Tensor pow(const Tensor& x, double p);   // x^p elementwise
Tensor rdiv(double s, const Tensor& x);  // s / x

Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);

// Sums g over the dims that were broadcast to reach g's shape from `shape` (no autograd).
Tensor sum_to(const Tensor& g, const Shape& shape);

}  // namespace ops

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double s);
Tensor operator-(const Tensor& a, double s);
Tensor operator*(const Tensor& a, double s);
Tensor operator/(const Tensor& a, double s);
Tensor operator+(double s, const Tensor& a);
Tensor operator-(double s, const Tensor& a);
Tensor operator*(double s, const Tensor& a);
Tensor operator/(double s, const Tensor& a);
Tensor operator-(const Tensor& a);

}  // namespace kdcu
