// KD CPU kernels, the reference of kernels/cuda/kd_loss.h. KD: e_{b,c} = T^2 p_t (log p_t - log p_s)
// with p = softmax(logits / T), fused per row (no probability tensor). Upstream gradients follow
// kernels/cpu/loss.h: g for loss element i is scale * dloss[i * dloss_stride]. Gradient outputs
// are overwritten.
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cpu {

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

// The fused KD loss and student gradient in one sweep set per row, for an upstream gradient of 1:
//   kl_b = sum_c T^2 p_t (log p_t - log p_s), ce_b = -log softmax(s_b)[labels[b]] (labels given),
//   *total = scale sum_b (alpha kl_b + (1 - alpha) ce_b), *kd = scale sum_b kl_b, *ce = scale sum_b ce_b,
//   ds[b, c] = scale (alpha T (p_s - p_t) + (1 - alpha) (softmax(s_b) - onehot(labels[b])))_c.
// labels null: pure KD (alpha must be 1; *ce is not written). Row sums are added in row order in
// double. Labels must be in [0, C) (the op checks them). s, t, ds: (B, C), labels: (B);
// total, kd, ce: one element each; any output may be null.
template <class T>
void kd_fused(const T* s, const T* t, const std::int64_t* labels, T* total, T* kd, T* ce, T* ds, std::int64_t B,
              std::int64_t C, T temperature, T alpha, T scale);

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
