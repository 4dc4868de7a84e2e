// CUDA versions of kernels/cpu/elementwise.h: same signatures plus the device index.
#pragma once

#include <cstdint>

#include "kernels/broadcast.h"
#include "kernels/elementwise_math.h"

namespace kdcu {
namespace kernels {
namespace cuda {

template <class T>
void binary(BinaryOp op, const T* a, const T* b, T* out, const BroadcastPlan& plan, int device);
template <class T>
void sum_to(const T* g, T* out, std::int64_t out_numel, const BroadcastPlan& plan, int device);
template <class T>
void unary_forward(UnaryOp op, const T* x, T* y, std::int64_t n, int device);
template <class T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* dy, T* dx, std::int64_t n, int device);
template <class T>
void affine(const T* x, T* y, std::int64_t n, T alpha, T beta, int device);
template <class T>
void pow_forward(const T* x, T* y, std::int64_t n, T p, int device);
template <class T>
void pow_backward(const T* x, const T* dy, T* dx, std::int64_t n, T p, int device);
template <class T>
void add_inplace(T* dst, const T* src, std::int64_t n, T alpha, int device);

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
