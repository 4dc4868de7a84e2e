// Loss CPU kernels. Cross-entropy (with label smoothing e): loss_i = (1-e)(lse_i - x_{i,y_i}) +
// e mean_c(lse_i - x_{i,c}); MSE: (x - t)^2; KD: e_{b,c} = T^2 p_t (log p_t - log p_s) with
// p = softmax(logits / T). Each loss is fused per row (log-sum-exp and loss in one task, no
// probability tensor); the backward kernels recompute from the saved logits and inputs.
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

// Per row b, with l = log_softmax(t_b / T) - log_softmax(s_b / T) and p_t = softmax(t_b / T):
// loss[b, c] = T^2 p_t,c l_c and row_loss[b] = sum_c loss[b, c]; either output may be null.
// stats (B, 4), when not null, receives each row's (max s, log-sum-exp of s, max t, log-sum-exp
// of t) for the backward, which then never recomputes them.
// s, t, loss: (B, C), row_loss: (B)
template <class T>
void kd_kl_div_forward(const T* s, const T* t, T* row_loss, T* loss, double* stats, std::int64_t B, std::int64_t C,
                       T temperature);
// ds_j = T (p_s,j sum_c g_c p_t,c - g_j p_t,j);
// dt_j = T (p_t,j g_j (l_j + 1) - p_t,j sum_c g_c p_t,c (l_c + 1)); ds or dt may be null.
// s, t, ds, dt: (B, C), stats: (B, 4) from the forward, dloss: (B, C) or (1) per dloss_stride
template <class T>
void kd_kl_div_backward(const T* s, const T* t, const double* stats, const T* dloss, std::int64_t dloss_stride, T scale,
                        T* ds, T* dt, std::int64_t B, std::int64_t C, T temperature);

// Hard-label distillation, per row b (the CPU reference of kernels/cuda's kd_hard_forward/backward):
// row_loss[b] = alpha T^2 KL(p_t || p_s) + (1 - alpha) CE(s_b, labels[b]), p = softmax(logits / T), the KL
// term as in kd_kl_div_forward and CE at temperature 1 without smoothing as in cross_entropy_forward.
// stats (B, 5), when not null, gets (max s, lse of s/T, max t, lse of t/T, lse of s), the CUDA layout.
// Labels must be in [0, C) (the op checks them).  s, t: (B, C), labels: (B), row_loss: (B)
template <class T>
void kd_hard_forward(const T* s, const T* t, const std::int64_t* labels, T* row_loss, double* stats, std::int64_t B,
                     std::int64_t C, T temperature, T alpha);
// ds[b, c] = g_b (alpha T (softmax(s/T) - softmax(t/T)) + (1 - alpha) (softmax(s) - onehot(labels[b])))_c,
// g_b = scale * dloss[b * dloss_stride].  s, t, ds: (B, C), labels: (B), stats: (B, 5), dloss: (B) or (1)
template <class T>
void kd_hard_backward(const T* s, const T* t, const std::int64_t* labels, const double* stats, const T* dloss,
                      std::int64_t dloss_stride, T scale, T* ds, std::int64_t B, std::int64_t C, T temperature,
                      T alpha);

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
