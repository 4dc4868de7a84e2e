// CUDA versions of kernels/cpu/conv.h through cuDNN (same signatures plus the device index), f32
// and f64: y = conv(x, weight) [+ bias], dx (backward data), dweight (backward filter), dbias.
// For each pass the algorithm is found once per shape by cudnnFind*AlgorithmEx (timed on the real
// buffers) and cached per device under the full geometry, dtype, pointer alignment and math mode;
// the fastest deterministic algorithm is preferred. f32 math follows kernels/cuda/handles.h's TF32
// switch: on, tensor-op math (TF32); off, CUDNN_FMA_MATH (full f32, no tensor cores). Workspaces
// come from kdcu's device pool (core/cuda_runtime.h) for the call's duration. The bias is added by
// cudnnAddTensor; its gradient is batch_norm.h's deterministic channel_sum (double sums, as the
// CPU). Nothing is saved here: the op keeps x and weight for backward.
#pragma once

#include "kernels/cpu/conv.h"  // Conv2dShape

namespace kdcu {
namespace kernels {
namespace cuda {

using cpu::Conv2dShape;

// x: (N, Cin, H, W), weight: (Cout, Cin, kh, kw), bias: (Cout) or null, y: (N, Cout, oh, ow)
template <class T>
void conv2d_forward(const T* x, const T* weight, const T* bias, T* y, const Conv2dShape& s, int device);

// dy: (N, Cout, oh, ow) -> dx: (N, Cin, H, W), dweight: (Cout, Cin, kh, kw), dbias: (Cout); null
// outputs skipped (x may then be null when dweight is, weight when dx is), the others overwritten.
template <class T>
void conv2d_backward(const T* x, const T* weight, const T* dy, T* dx, T* dweight, T* dbias, const Conv2dShape& s,
                     int device);

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
