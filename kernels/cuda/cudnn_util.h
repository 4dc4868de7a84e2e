// cuDNN helpers for kdcu's CUDA kernels (include only from kernels/cuda/*.cpp|cu): the data type
// of T, and RAII owners of tensor, filter and convolution descriptors, so a throw between creation
// and use leaks nothing. All 4-D, NCHW, dense (strides implied by the extents).
#pragma once

#include <cstdint>
#include <cudnn.h>

#include "kernels/cuda/handles.h"

namespace kdcu {
namespace kernels {
namespace cuda {

template <class T>
constexpr cudnnDataType_t cudnn_data_type() {
  return sizeof(T) == 4 ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE;
}

// A dense NCHW tensor (n, c, h, w); each extent >= 1 (cuDNN rejects empty tensors).
class TensorDesc {
 public:
  TensorDesc(cudnnDataType_t type, int n, int c, int h, int w) {
    KDCU_CUDNN_CHECK(cudnnCreateTensorDescriptor(&desc_));
    try {
      KDCU_CUDNN_CHECK(cudnnSetTensor4dDescriptor(desc_, CUDNN_TENSOR_NCHW, type, n, c, h, w));
    } catch (...) {
      cudnnDestroyTensorDescriptor(desc_);
      throw;
    }
  }
  ~TensorDesc() { cudnnDestroyTensorDescriptor(desc_); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
  cudnnTensorDescriptor_t get() const { return desc_; }

 private:
  cudnnTensorDescriptor_t desc_ = nullptr;
};

// Filters (k = out channels, c = in channels, h, w) in OIHW, PyTorch's layout.
class FilterDesc {
 public:
  FilterDesc(cudnnDataType_t type, int k, int c, int h, int w) {
    KDCU_CUDNN_CHECK(cudnnCreateFilterDescriptor(&desc_));
    try {
      KDCU_CUDNN_CHECK(cudnnSetFilter4dDescriptor(desc_, type, CUDNN_TENSOR_NCHW, k, c, h, w));
    } catch (...) {
      cudnnDestroyFilterDescriptor(desc_);
      throw;
    }
  }
  ~FilterDesc() { cudnnDestroyFilterDescriptor(desc_); }
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
  cudnnFilterDescriptor_t get() const { return desc_; }

 private:
  cudnnFilterDescriptor_t desc_ = nullptr;
};

// A 2-D cross-correlation (PyTorch's conv2d), groups 1, accumulating in `compute` (the data type:
// f32 for f32, f64 for f64), with the given math type.
class ConvDesc {
 public:
  ConvDesc(int pad_h, int pad_w, int stride_h, int stride_w, int dil_h, int dil_w, cudnnDataType_t compute,
           cudnnMathType_t math) {
    KDCU_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&desc_));
    try {
      KDCU_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(desc_, pad_h, pad_w, stride_h, stride_w, dil_h, dil_w,
                                                       CUDNN_CROSS_CORRELATION, compute));
      set_math(math);
    } catch (...) {
      cudnnDestroyConvolutionDescriptor(desc_);
      throw;
    }
  }
  ~ConvDesc() { cudnnDestroyConvolutionDescriptor(desc_); }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
  void set_math(cudnnMathType_t math) { KDCU_CUDNN_CHECK(cudnnSetConvolutionMathType(desc_, math)); }
  cudnnConvolutionDescriptor_t get() const { return desc_; }

 private:
  cudnnConvolutionDescriptor_t desc_ = nullptr;
};

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
