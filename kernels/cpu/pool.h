// 2-D pooling on the CPU over independent (H, W) planes (one per image and channel), floor mode:
//   max: y = max over the window (padding counts as -inf, NaN wins, the first maximum wins ties);
//        the flat index (ih * W + iw) of the winner is saved for backward, which routes dy to it.
//   avg: y = window sum / (kh * kw), or / (the window's in-image pixels) without count_include_pad.
//   global avg: y = plane mean (PyTorch's adaptive_avg_pool2d(x, 1)); backward spreads dy / (H W).
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cpu {

// The op checks the geometry (PyTorch's rules) and computes oh/ow before a kernel runs.
struct Pool2dShape {
  std::int64_t planes = 0;      // N * C
  std::int64_t h = 0, w = 0;    // input plane
  std::int64_t kh = 0, kw = 0;  // window
  std::int64_t sh = 1, sw = 1;  // stride
  std::int64_t ph = 0, pw = 0;  // padding
  std::int64_t oh = 0, ow = 0;  // output plane
};

// x: (planes, H, W) -> y: (planes, oh, ow), indices: (planes, oh, ow), flat within the input plane,
// or null when no backward will run.
template <class T>
void max_pool2d_forward(const T* x, T* y, std::int64_t* indices, const Pool2dShape& s);
// dx = 0, then dx[plane][indices] += dy (overlapping windows may pick the same pixel twice).
template <class T>
void max_pool2d_backward(const T* dy, const std::int64_t* indices, T* dx, const Pool2dShape& s);

// x: (planes, H, W) -> y: (planes, oh, ow)
template <class T>
void avg_pool2d_forward(const T* x, T* y, const Pool2dShape& s, bool count_include_pad);
// dx: (planes, H, W), overwritten: each window's dy / divisor added to its in-image pixels.
template <class T>
void avg_pool2d_backward(const T* dy, T* dx, const Pool2dShape& s, bool count_include_pad);

// x: (planes, hw) -> y: (planes), the mean of each plane (summed in double).
template <class T>
void global_avg_pool2d_forward(const T* x, T* y, std::int64_t planes, std::int64_t hw);
// dy: (planes) -> dx: (planes, hw) = dy / hw
template <class T>
void global_avg_pool2d_backward(const T* dy, T* dx, std::int64_t planes, std::int64_t hw);

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
