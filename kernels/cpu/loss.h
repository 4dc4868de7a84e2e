// Loss CPU kernels. Cross-entropy (with label smoothing e): loss_i = (1-e)(lse_i - x_{i,y_i}) +
// e mean_c(lse_i - x_{i,c}); MSE: (x - t)^2. Each loss is fused per row (log-sum-exp and loss in
// one task, no probability tensor); the backward kernels recompute from the saved logits and
// inputs. The KD kernels are in kd_loss.h.
//
// Backward upstream gradients: g for loss element i is scale * dloss[i * dloss_stride], so a
// scalar reduction passes its 1-element gradient with stride 0 (and scale 1/N for a mean) and
// the unreduced loss passes the full gradient with stride 1. Gradient outputs are overwritten.
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cpu {

// The first row whose label is outside [0, C), or -1 when all are valid.  labels: (N)
std::int64_t first_bad_label(const std::int64_t* labels, std::int64_t N, std::int64_t C);

// loss[i] = (1 - e) * (-log p[i, labels[i]]) + e * mean_c(-log p[i, c]), p = softmax(logits[i]).
// logits: (N, C), labels: (N) in [0, C), loss: (N)
template <class T>
void cross_entropy_forward(const T* logits, const std::int64_t* labels, T* loss, std::int64_t N, std::int64_t C,
                           T label_smoothing);
// dlogits[i, c] = g_i * (p[i, c] - q[i, c]), q = (1 - e) * onehot(labels[i]) + e / C.
// logits, dlogits: (N, C), labels: (N), dloss: (N) or (1) per dloss_stride
template <class T>
void cross_entropy_backward(const T* logits, const std::int64_t* labels, const T* dloss, std::int64_t dloss_stride,
                            T scale, T* dlogits, std::int64_t N, std::int64_t C, T label_smoothing);

// loss[i] = (x[i] - t[i])^2.  x, t, loss: (n)
template <class T>
void mse_forward(const T* x, const T* t, T* loss, std::int64_t n);
// y[0] = scale * sum_i (x[i] - t[i])^2, summed in fixed chunks (see ordered_sum).  x, t: (n), y: (1)
template <class T>
void mse_sum_forward(const T* x, const T* t, T* y, std::int64_t n, T scale);
// dx[i] = 2 g_i (x[i] - t[i]), dt[i] = -dx[i]; either output may be null.  x, t, dx, dt: (n)
template <class T>
void mse_backward(const T* x, const T* t, const T* dloss, std::int64_t dloss_stride, T scale, T* dx, T* dt,
                  std::int64_t n);

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
