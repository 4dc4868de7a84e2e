// Elementwise CPU kernels: broadcast binary ops and their reduction back to an operand's shape,
// unary ops forward/backward, y = alpha*x + beta, pow by a scalar, and in-place accumulation.
#pragma once

#include <cstdint>

#include "kernels/broadcast.h"
#include "kernels/elementwise_math.h"

namespace kdcu {
namespace kernels {
namespace cpu {

// out[i] = a[ia] op b[ib] over plan.numel output elements.
template <class T>
void binary(BinaryOp op, const T* a, const T* b, T* out, const BroadcastPlan& plan);
// out = sum of g over the dims where `plan.stride_a` is 0: plan is the plan of (g's shape, out's
// shape, g's shape); out has out_numel elements and is overwritten.
template <class T>
void sum_to(const T* g, T* out, std::int64_t out_numel, const BroadcastPlan& plan);

template <class T>
void unary_forward(UnaryOp op, const T* x, T* y, std::int64_t n);
// dx = dy * f'(x) (x, y: the forward's input and output).
template <class T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* dy, T* dx, std::int64_t n);

template <class T>
void affine(const T* x, T* y, std::int64_t n, T alpha, T beta);  // y = alpha * x + beta
template <class T>
void pow_forward(const T* x, T* y, std::int64_t n, T p);  // y = x^p
template <class T>
void pow_backward(const T* x, const T* dy, T* dx, std::int64_t n, T p);  // dx = dy * p * x^(p-1)
template <class T>
void add_inplace(T* dst, const T* src, std::int64_t n, T alpha);  // dst += alpha * src

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
