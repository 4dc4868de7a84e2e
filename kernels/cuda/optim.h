// CUDA optimizer and clipping kernels: the formulas and rounding of kernels/cpu/optim.h (scalars
// rounded to T on the host exactly as the CPU does, every multiply and add rounded separately, no
// fused multiply-adds, IEEE sqrt and division), so a CUDA step gives the CPU's bits.
// Multi-tensor: one launch updates up to kMaxTensorsPerLaunch tensors, each cut into fixed chunks
// of kChunk elements, one block per chunk (the pointers, sizes and per-tensor scalars travel in the
// kernel's parameters, nothing is copied to the device first). The single-tensor functions (the
// CPU's signatures plus the device) are the one-entry case.
// Norm reductions: one f64 partial per chunk, then one block adds the partials in a fixed order,
// so the result is deterministic; the only host read is the final total.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cuda {

inline constexpr int kMaxTensorsPerLaunch = 32;
inline constexpr std::int64_t kChunk = 4096;

// One SGD parameter: p, g, buf: (n); buf null when momentum == 0; first_step: this parameter's
// first update (the buffer becomes d, no dampening).
template <class T>
struct SgdTensor {
  T* p;
  const T* g;
  T* buf;
  std::int64_t n;
  bool first_step;
};
// One Adam/AdamW parameter: p, g, m, v: (n); step >= 1 is its update count, this one included.
template <class T>
struct AdamTensor {
  T* p;
  const T* g;
  T* m;
  T* v;
  std::int64_t n;
  std::int64_t step;
};
// A read-only vector: data: (n).
template <class T>
struct ConstSpan {
  const T* data;
  std::int64_t n;
};

// cpu::sgd_step on every tensor of the list, ceil(count / kMaxTensorsPerLaunch) launches.
template <class T>
void sgd_step_multi(const SgdTensor<T>* tensors, std::size_t count, double lr, double momentum, double dampening,
                    double weight_decay, bool nesterov, int device);
template <class T>
void sgd_step(T* p, const T* g, T* buf, std::int64_t n, double lr, double momentum, double dampening,
              double weight_decay, bool nesterov, bool first_step, int device);

// cpu::adam_step on every tensor of the list (bias corrections per tensor, from its own step).
template <class T>
void adam_step_multi(const AdamTensor<T>* tensors, std::size_t count, double lr, double beta1, double beta2, double eps,
                     double weight_decay, bool decoupled, int device);
template <class T>
void adam_step(T* p, const T* g, T* m, T* v, std::int64_t n, double lr, double beta1, double beta2, double eps,
               double weight_decay, bool decoupled, std::int64_t step, int device);

// sum over all tensors of |x_i|^norm_type (norm_type 2: squares, 1: |x|, else pow), in f64.
template <class T>
double abs_pow_sum_multi(const ConstSpan<T>* spans, std::size_t count, double norm_type, int device);
template <class T>
double abs_pow_sum(const T* x, std::int64_t n, double norm_type, int device);
// max over all tensors of |x_i| in f64; NaN when any element is NaN, 0 for no elements.
template <class T>
double abs_max_multi(const ConstSpan<T>* spans, std::size_t count, int device);
template <class T>
double abs_max(const T* x, std::int64_t n, int device);
// x *= T(scale), in place. x: (n)
template <class T>
void scale_inplace(T* x, std::int64_t n, double scale, int device);

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
