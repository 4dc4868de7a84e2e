// CUDA KD kernels, behind ops::kd_kl_div and ops::kd_hard_loss. The separate forward / backward
// follow kernels/cpu/kd_loss.h's signatures plus the device index (see that header for the
// formulas and the dloss / dloss_stride / scale convention); kd_fused is the one-launch training
// path. All are f32 only (the templates' f64 instantiations throw DTypeError).
//
// Per row, one launch each: the KD forward (both rows' max and log-sum-exp in one online sweep,
// then the loss terms, writing the per-row loss and the per-row stats (max s, lse s, max t, lse t)
// for the backward); the KD backward (from s, t and the stats); the hard-label loss
// alpha T^2 KL + (1 - alpha) CE(s, y) likewise. ops uses them only where kd_fused does not apply
// (the unreduced loss, a teacher that requires grad).
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cuda {

// s, t, loss: (B, C), row_loss: (B), stats: (B, 4); row_loss, loss or stats may be null
template <class T>
void kd_kl_div_forward(const T* s, const T* t, T* row_loss, T* loss, double* stats, std::int64_t B, std::int64_t C,
                       T temperature, int device);
// s, t, ds, dt: (B, C), stats: (B, 4) from the forward, dloss: (B, C) or (1) per dloss_stride; ds or dt may be null
template <class T>
void kd_kl_div_backward(const T* s, const T* t, const double* stats, const T* dloss, std::int64_t dloss_stride, T scale,
                        T* ds, T* dt, std::int64_t B, std::int64_t C, T temperature, int device);

// Hard-label distillation, per row b: row_loss[b] = alpha T^2 KL(p_t || p_s) + (1 - alpha) CE(s_b, labels[b]),
// p = softmax(logits / T), CE at temperature 1 without smoothing. stats (B, 5), when not null, gets
// (max s, lse of s/T, max t, lse of t/T, lse of s) for the backward.
// s, t: (B, C), labels: (B), row_loss: (B); a bad label's row_loss and ds rows are NaN, as for cross-entropy
void kd_hard_forward(const float* s, const float* t, const std::int64_t* labels, float* row_loss, double* stats,
                     std::int64_t B, std::int64_t C, float temperature, float alpha, int device);
// ds[b, c] = g_b (alpha T (softmax(s/T) - softmax(t/T)) + (1 - alpha) (softmax(s) - onehot(labels[b])))_c with
// g_b = scale * dloss[b * dloss_stride] (stride 0 and scale 1/B for the batch mean).
// s, t, ds: (B, C), labels: (B), stats: (B, 5), dloss: (B) or (1)
void kd_hard_backward(const float* s, const float* t, const std::int64_t* labels, const double* stats,
                      const float* dloss, std::int64_t dloss_stride, float scale, float* ds, std::int64_t B,
                      std::int64_t C, float temperature, float alpha, int device);

// The fused KD loss and student gradient, one launch for any B and C (kernels/cpu/kd_loss.h's
// kd_fused, the same outputs): reads s and t once from HBM, writes ds and the scalars. labels null:
// pure KD (alpha must be 1, *ce untouched); else the hard-label form, a bad label's row giving NaN in
// its ds row and in *total and *ce, noted in the device's label record (labels.cuh).
// s, t, ds: (B, C), labels: (B); total, kd, ce: one element each; any output may be null
void kd_fused(const float* s, const float* t, const std::int64_t* labels, float* total, float* kd, float* ce, float* ds,
              std::int64_t B, std::int64_t C, float temperature, float alpha, float scale, int device);

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
