// CUDA versions of kernels/cpu/loss.h, same signatures plus the device index (see that header for
// the formulas and the dloss / dloss_stride / scale convention). Cross-entropy and the KD kernels
// are f32 only (their f64 instantiations throw DTypeError); MSE runs f32 and f64.
//
// Fused per row, one launch each: cross-entropy (log-sum-exp, label term, smoothing term); the KD
// forward (both rows' max and log-sum-exp in one online sweep, then the loss terms, writing the
// per-row loss and the per-row stats (max s, lse s, max t, lse t) for the backward); the KD
// backward (from s, t and the stats: no second reduction when the upstream gradient is a scalar).
// Also the hard-label distillation loss alpha T^2 KL + (1 - alpha) CE(s, y), behind ops::kd_hard_loss.
#pragma once

#include <cstdint>
#include <optional>

namespace kdcu {
namespace kernels {
namespace cuda {

// A label outside [0, C) is not checked before a launch (that would wait for the device). The
// cross-entropy and hard-label KD kernels write NaN for its row's loss and gradient, never reading
// out of the row, and note it in a record each device keeps: the first launch (in stream order)
// that saw a bad label, with its smallest bad row. Nothing comes back to the host on the way.
struct LabelError {
  std::int64_t row, label, classes;
};
// Reads and clears `device`'s record (waits for the device's stream): for the error path only,
// e.g. once a loss has come back NaN. nullopt when no bad label was seen since the last call.
std::optional<LabelError> take_label_error(int device);

// logits: (N, C), labels: (N), loss: (N); a row with a bad label gets NaN (see take_label_error)
template <class T>
void cross_entropy_forward(const T* logits, const std::int64_t* labels, T* loss, std::int64_t N, std::int64_t C,
                           T label_smoothing, int device);
// logits, dlogits: (N, C), labels: (N), dloss: (N) or (1) per dloss_stride; a bad label's row is NaN
template <class T>
void cross_entropy_backward(const T* logits, const std::int64_t* labels, const T* dloss, std::int64_t dloss_stride,
                            T scale, T* dlogits, std::int64_t N, std::int64_t C, T label_smoothing, int device);

// x, t, loss: (n)
template <class T>
void mse_forward(const T* x, const T* t, T* loss, std::int64_t n, int device);
// y[0] = scale * sum_i (x[i] - t[i])^2, a fixed-order two-pass sum in double.  x, t: (n), y: (1)
template <class T>
void mse_sum_forward(const T* x, const T* t, T* y, std::int64_t n, T scale, int device);
// x, t, dx, dt: (n); dx or dt may be null
template <class T>
void mse_backward(const T* x, const T* t, const T* dloss, std::int64_t dloss_stride, T scale, T* dx, T* dt,
                  std::int64_t n, int device);

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

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
