// Smooth L1 (Huber-like) loss CPU kernels, PyTorch's F.smooth_l1_loss: with d = x - t,
// loss = 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (beta = 0 is |d|, the L1 loss);
// its derivative in x is d / beta inside, sign(d) outside. Nothing is saved: the backward recomputes d.
//
// Upstream gradients as in kernels/cpu/loss.h: g_i = scale * dloss[i * dloss_stride] (stride 0 for a
// scalar reduction). Outputs are overwritten.
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cpu {

// loss[i] = smooth_l1(x[i] - t[i]; beta), beta >= 0.  x, t, loss: (n)
template <class T>
void smooth_l1_forward(const T* x, const T* t, T* loss, std::int64_t n, T beta);
// y[0] = scale * sum_i smooth_l1(x[i] - t[i]; beta), summed in fixed chunks (ordered_sum).  x, t: (n), y: (1)
template <class T>
void smooth_l1_sum_forward(const T* x, const T* t, T* y, std::int64_t n, T beta, T scale);
// dx[i] = g_i * (d / beta if |d| < beta else sign(d)), dt[i] = -dx[i]; sign(0) = 0, so beta = 0 at
// d = 0 takes the subgradient 0. Either output may be null.  x, t, dx, dt: (n)
template <class T>
void smooth_l1_backward(const T* x, const T* t, const T* dloss, std::int64_t dloss_stride, T scale, T* dx, T* dt,
                        std::int64_t n, T beta);

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
