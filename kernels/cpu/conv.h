// 2-D convolution (cross-correlation, as PyTorch's conv2d, groups = 1, zero padding) on the CPU:
//   y[n,o,i,j] = bias[o] + sum_{c,a,b} w[o,c,a,b] * x[n,c, i*sh - ph + a*dh, j*sw - pw + b*dw]
// by im2col + one GEMM per image (col2im for the input gradient); 1x1 stride-1 unpadded kernels
// skip im2col. Nothing is saved: the backward takes the forward's x and weight again.
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cpu {

// The geometry of one convolution; the op computes oh/ow with PyTorch's formula
// floor((h + 2 ph - dh (kh - 1) - 1) / sh) + 1 and checks everything before a kernel runs.
struct Conv2dShape {
  std::int64_t n = 0, cin = 0, h = 0, w = 0;  // input (N, Cin, H, W)
  std::int64_t cout = 0, kh = 0, kw = 0;      // weight (Cout, Cin, kh, kw)
  std::int64_t sh = 1, sw = 1;                // stride
  std::int64_t ph = 0, pw = 0;                // zero padding
  std::int64_t dh = 1, dw = 1;                // dilation
  std::int64_t oh = 0, ow = 0;                // output (N, Cout, oh, ow)
};

// x: (N, Cin, H, W), weight: (Cout, Cin, kh, kw), bias: (Cout) or null, y: (N, Cout, oh, ow)
template <class T>
void conv2d_forward(const T* x, const T* weight, const T* bias, T* y, const Conv2dShape& s);

// dy: (N, Cout, oh, ow) -> dx: (N, Cin, H, W), dweight: (Cout, Cin, kh, kw), dbias: (Cout).
// Null outputs are skipped (x may then be null when dweight is, weight when dx is); the others are
// overwritten. dweight sums the images' contributions per thread (static schedule), then the
// threads' partials in thread order, so it is bitwise reproducible for a given thread count.
template <class T>
void conv2d_backward(const T* x, const T* weight, const T* dy, T* dx, T* dweight, T* dbias, const Conv2dShape& s);

// The column matrix of one image: col[(c*kh + a)*kw + b][i*ow + j] = x[c, i*sh - ph + a*dh, j*sw - pw + b*dw]
// (0 in the padding). x: (Cin, H, W), col: (Cin*kh*kw, oh*ow)
template <class T>
void im2col(const T* x, T* col, const Conv2dShape& s);
// The adjoint of im2col: dx = 0, then every column entry is added back to the pixel it came from.
template <class T>
void col2im(const T* col, T* dx, const Conv2dShape& s);

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
