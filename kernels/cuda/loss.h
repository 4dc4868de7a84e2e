// CUDA versions of kernels/cpu/loss.h, same signatures plus the device index (see that header for
// the formulas and the dloss / dloss_stride / scale convention). Cross-entropy is f32 only (its f64
// instantiations throw DTypeError); MSE runs f32 and f64. Cross-entropy is fused per row, one launch
// each way (log-sum-exp, label term, smoothing term). The KD kernels are in kd_loss.h.
#pragma once

#include <cstdint>
#include <optional>

namespace kdcu {
namespace kernels {
namespace cuda {

// A label outside [0, C) is not checked before a launch (that would wait for the device). The
// cross-entropy and hard-label KD kernels write NaN for its row's loss and gradient, never reading
// out of the row, and note it in a record each device keeps (labels.cuh): the first launch (in
// stream order) that saw a bad label, with its smallest bad row. Nothing comes back on the way.
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

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
