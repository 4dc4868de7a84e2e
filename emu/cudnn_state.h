// Private to the emulated cuDNN (emu/cudnn_*.cpp): the structs cudnn.h leaves incomplete (the
// handle and the tensor, filter and convolution descriptors), and the checks the three source
// files share: handle and descriptor validity, the thread's last error text, host scaling
// factors, and device operands (a device fault when one is not emulated device memory).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cudnn.h>
#include <string>

// A descriptor holds `magic` from creation to destruction, so a descriptor that was never
// created (or was destroyed and its memory reused) is told from a live one; `set` says whether
// its Set call succeeded.
constexpr std::uint32_t kCudnnTensorMagic = 0x6b54454e;  // "kTEN"
constexpr std::uint32_t kCudnnFilterMagic = 0x6b46494c;  // "kFIL"
constexpr std::uint32_t kCudnnConvMagic = 0x6b434f4e;    // "kCON"

struct cudnnContext {
  cudaStream_t stream = nullptr;
};

struct cudnnTensorStruct {
  std::uint32_t magic = kCudnnTensorMagic;
  bool set = false;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  int n = 0, c = 0, h = 0, w = 0;  // NCHW, dense
};

struct cudnnFilterStruct {
  std::uint32_t magic = kCudnnFilterMagic;
  bool set = false;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  int k = 0, c = 0, h = 0, w = 0;  // KCRS (out channels, in channels, rows, columns), dense
};

struct cudnnConvolutionStruct {
  std::uint32_t magic = kCudnnConvMagic;
  bool set = false;
  int pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  cudnnDataType_t compute = CUDNN_DATA_FLOAT;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

namespace kdcu {
namespace emu {

// Records "<call>: <message>" as this thread's last error (cudnnGetLastErrorString) and
// returns `status`, so a failing check reads `return cudnn_fail(...)`.
cudnnStatus_t cudnn_fail(cudnnStatus_t status, const char* call, const std::string& message);

// SUCCESS for a live handle from cudnnCreate; otherwise BAD_PARAM, recorded for `call`.
cudnnStatus_t cudnn_check_handle(cudnnHandle_t handle, const char* call);
// SUCCESS for a created descriptor whose Set call succeeded; otherwise BAD_PARAM naming `name`.
cudnnStatus_t cudnn_check_tensor(cudnnTensorDescriptor_t d, const char* call, const char* name);
cudnnStatus_t cudnn_check_filter(cudnnFilterDescriptor_t d, const char* call, const char* name);
cudnnStatus_t cudnn_check_conv(cudnnConvolutionDescriptor_t d, const char* call, const char* name);

// Bytes per element of the data types the emulator computes in (float, double); 0 for others.
size_t cudnn_type_size(cudnnDataType_t type);
inline std::int64_t numel(const cudnnTensorStruct& t) {
  return static_cast<std::int64_t>(t.n) * t.c * t.h * t.w;
}
inline std::int64_t numel(const cudnnFilterStruct& f) {
  return static_cast<std::int64_t>(f.k) * f.c * f.h * f.w;
}

// Reads a scaling factor (alpha or beta) from host memory: a double for f64 data, a float
// otherwise, as cuDNN documents. Null: BAD_PARAM; device memory: a fault and EXECUTION_FAILED
// (cuDNN reads it on the host, where a real device pointer cannot be read).
cudnnStatus_t cudnn_host_scale(const char* call, const char* name, const void* p, bool f64, double* out);

// True when [p, p + bytes) is emulated device memory; otherwise raises a device fault naming the
// call, the operand, the pointer and the bytes expected, records it as the last error, and
// returns false (the caller returns CUDNN_STATUS_EXECUTION_FAILED).
bool cudnn_device_operand(const char* call, const char* operand, const void* p, size_t bytes);

}  // namespace emu
}  // namespace kdcu
