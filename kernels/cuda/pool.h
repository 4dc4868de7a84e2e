// CUDA versions of kernels/cpu/pool.h (same signatures plus the device index), hand-written, with
// the CPU's window clipping, divisors and tie/NaN rules (the first maximum wins a tie, a NaN wins
// over numbers and a later NaN over an earlier one). Forward: one thread per output. Backward is a
// gather, one thread per input pixel summing the outputs whose window covers it in the CPU's output
// order, so it needs no atomics, is deterministic and is bitwise the CPU's sums. Max pooling saves
// the argmax's flat index (ih * W + iw) per output, as the CPU does.
#pragma once

#include <cstdint>

#include "kernels/cpu/pool.h"  // Pool2dShape

namespace kdcu {
namespace kernels {
namespace cuda {

using cpu::Pool2dShape;

// x: (planes, H, W) -> y, indices: (planes, oh, ow); indices may be null.
template <class T>
void max_pool2d_forward(const T* x, T* y, std::int64_t* indices, const Pool2dShape& s, int device);
// dx: (planes, H, W), overwritten: each pixel the sum of dy over the outputs whose index is it.
template <class T>
void max_pool2d_backward(const T* dy, const std::int64_t* indices, T* dx, const Pool2dShape& s, int device);

// x: (planes, H, W) -> y: (planes, oh, ow)
template <class T>
void avg_pool2d_forward(const T* x, T* y, const Pool2dShape& s, bool count_include_pad, int device);
// dx: (planes, H, W), overwritten: each pixel the sum of dy / divisor over the windows covering it.
template <class T>
void avg_pool2d_backward(const T* dy, T* dx, const Pool2dShape& s, bool count_include_pad, int device);

// x: (planes, hw) -> y: (planes), the plane means (one warp per plane, summed in double).
template <class T>
void global_avg_pool2d_forward(const T* x, T* y, std::int64_t planes, std::int64_t hw, int device);
// dy: (planes) -> dx: (planes, hw) = dy / hw
template <class T>
void global_avg_pool2d_backward(const T* dy, T* dx, std::int64_t planes, std::int64_t hw, int device);

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
