// The emulated cuDNN's handles, descriptors and error reporting: cudnnCreate / Destroy /
// SetStream / GetStream, the status strings and the thread's last error text, 4-D NCHW tensor
// and filter descriptors, 2-D convolution descriptors with their math type, and the forward
// output size. Also the shared checks declared in emu/cudnn_state.h.
#include <cudnn.h>
#include <mutex>
#include <set>
#include <sstream>
#include <string>

#include "emu/cudnn_state.h"
#include "emu/fault.h"
#include "emu/memory.h"
#include "emu/registry.h"

namespace kdcu {
namespace emu {
namespace {

thread_local std::string t_last_error;

// The live handles: a destroyed or made-up handle is refused instead of being read.

bool valid_type(cudnnDataType_t t) {
  return static_cast<int>(t) >= CUDNN_DATA_FLOAT && static_cast<int>(t) <= CUDNN_DATA_COMPLEX_FP64;
}

std::string dims(int a, int b, int c, int d) {
  std::ostringstream os;
  os << "(" << a << ", " << b << ", " << c << ", " << d << ")";
  return os.str();
}

// The format and extents shared by tensor and filter descriptors: NCHW only, every extent >= 1,
// fewer than 2^31 elements in all (cuDNN's limit).
cudnnStatus_t check_4d(const char* call, cudnnTensorFormat_t format, cudnnDataType_t type, int a, int b, int c, int d) {
  if (format != CUDNN_TENSOR_NCHW) {
    const bool known = format == CUDNN_TENSOR_NHWC || format == CUDNN_TENSOR_NCHW_VECT_C;
    return cudnn_fail(known ? CUDNN_STATUS_NOT_SUPPORTED : CUDNN_STATUS_BAD_PARAM, call,
                      "format " + std::to_string(format) + " is not emulated (CUDNN_TENSOR_NCHW only)");
  }
  if (!valid_type(type)) return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, "unknown dataType " + std::to_string(type));
  if (a < 1 || b < 1 || c < 1 || d < 1) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, "every extent must be >= 1, found " + dims(a, b, c, d));
  }
  if (static_cast<std::int64_t>(a) * b * c * d > 0x7fffffff) {
    return cudnn_fail(CUDNN_STATUS_NOT_SUPPORTED, call, dims(a, b, c, d) + " has 2^31 elements or more");
  }
  return CUDNN_STATUS_SUCCESS;
}

}  // namespace

cudnnStatus_t cudnn_fail(cudnnStatus_t status, const char* call, const std::string& message) {
  t_last_error = std::string(call) + ": " + message;
  return status;
}

cudnnStatus_t cudnn_check_handle(cudnnHandle_t handle, const char* call) {
  if (!handle) return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, "handle is NULL");
  if (!Registry<cudnnContext>::instance().contains(handle)) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, "handle is not a live handle from cudnnCreate");
  }
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnn_check_tensor(cudnnTensorDescriptor_t d, const char* call, const char* name) {
  if (!d || d->magic != kCudnnTensorMagic) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, std::string(name) + " is not a tensor descriptor");
  }
  if (!d->set) return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, std::string(name) + " was never set");
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnn_check_filter(cudnnFilterDescriptor_t d, const char* call, const char* name) {
  if (!d || d->magic != kCudnnFilterMagic) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, std::string(name) + " is not a filter descriptor");
  }
  if (!d->set) return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, std::string(name) + " was never set");
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnn_check_conv(cudnnConvolutionDescriptor_t d, const char* call, const char* name) {
  if (!d || d->magic != kCudnnConvMagic) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, std::string(name) + " is not a convolution descriptor");
  }
  if (!d->set) return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, std::string(name) + " was never set");
  return CUDNN_STATUS_SUCCESS;
}

size_t cudnn_type_size(cudnnDataType_t type) {
  return type == CUDNN_DATA_FLOAT ? 4 : type == CUDNN_DATA_DOUBLE ? 8 : 0;
}

cudnnStatus_t cudnn_host_scale(const char* call, const char* name, const void* p, bool f64, double* out) {
  if (!p) return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, std::string(name) + " is NULL");
  if (is_device_range(p, 1)) {
    std::ostringstream os;
    os << "scaling factor " << name << " at " << p << " is device memory; cuDNN reads alpha and beta from host memory";
    raise_fault(std::string(call) + ": " + os.str());
    return cudnn_fail(CUDNN_STATUS_EXECUTION_FAILED, call, os.str());
  }
  *out = f64 ? *static_cast<const double*>(p) : static_cast<double>(*static_cast<const float*>(p));
  return CUDNN_STATUS_SUCCESS;
}

bool cudnn_device_operand(const char* call, const char* operand, const void* p, size_t bytes) {
  if (is_device_range(p, bytes)) return true;
  std::ostringstream os;
  os << "operand " << operand << " at " << p << " is not device memory covering the " << bytes
     << " bytes the call touches";
  raise_fault(std::string(call) + ": " + os.str());
  cudnn_fail(CUDNN_STATUS_EXECUTION_FAILED, call, os.str());
  return false;
}

}  // namespace emu
}  // namespace kdcu

using kdcu::emu::cudnn_fail;

cudnnStatus_t cudnnCreate(cudnnHandle_t* handle) {
  if (!handle) return cudnn_fail(CUDNN_STATUS_BAD_PARAM, "cudnnCreate", "handle is NULL");
  *handle = kdcu::emu::Registry<cudnnContext>::instance().add(new cudnnContext);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) {
  if (!kdcu::emu::Registry<cudnnContext>::instance().remove(handle)) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, "cudnnDestroy", "handle is not a live handle from cudnnCreate");
  }
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t streamId) {
  if (auto s = kdcu::emu::cudnn_check_handle(handle, "cudnnSetStream")) return s;
  handle->stream = streamId;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetStream(cudnnHandle_t handle, cudaStream_t* streamId) {
  if (auto s = kdcu::emu::cudnn_check_handle(handle, "cudnnGetStream")) return s;
  if (!streamId) return cudnn_fail(CUDNN_STATUS_BAD_PARAM, "cudnnGetStream", "streamId is NULL");
  *streamId = handle->stream;
  return CUDNN_STATUS_SUCCESS;
}

const char* cudnnGetErrorString(cudnnStatus_t status) {
  switch (static_cast<int>(status)) {
#define KDCU_NAME(s) \
  case s:            \
    return #s;
    KDCU_NAME(CUDNN_STATUS_SUCCESS)
    KDCU_NAME(CUDNN_STATUS_NOT_INITIALIZED)
    KDCU_NAME(CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH)
    KDCU_NAME(CUDNN_STATUS_SERIALIZATION_VERSION_MISMATCH)
    KDCU_NAME(CUDNN_STATUS_DEPRECATED)
    KDCU_NAME(CUDNN_STATUS_LICENSE_ERROR)
    KDCU_NAME(CUDNN_STATUS_RUNTIME_IN_PROGRESS)
    KDCU_NAME(CUDNN_STATUS_RUNTIME_FP_OVERFLOW)
    KDCU_NAME(CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED)
    KDCU_NAME(CUDNN_STATUS_BAD_PARAM)
    KDCU_NAME(CUDNN_STATUS_BAD_PARAM_NULL_POINTER)
    KDCU_NAME(CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER)
    KDCU_NAME(CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED)
    KDCU_NAME(CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND)
    KDCU_NAME(CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT)
    KDCU_NAME(CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH)
    KDCU_NAME(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH)
    KDCU_NAME(CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES)
    KDCU_NAME(CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE)
    KDCU_NAME(CUDNN_STATUS_BAD_PARAM_CUDA_GRAPH_MISMATCH)
    KDCU_NAME(CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE)
    KDCU_NAME(CUDNN_STATUS_NOT_SUPPORTED)
    KDCU_NAME(CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN)
    KDCU_NAME(CUDNN_STATUS_NOT_SUPPORTED_SHAPE)
    KDCU_NAME(CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE)
    KDCU_NAME(CUDNN_STATUS_NOT_SUPPORTED_LAYOUT)
    KDCU_NAME(CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER)
    KDCU_NAME(CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART)
    KDCU_NAME(CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH)
    KDCU_NAME(CUDNN_STATUS_NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING)
    KDCU_NAME(CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE)
    KDCU_NAME(CUDNN_STATUS_NOT_SUPPORTED_SHARED_MEMORY_INSUFFICIENT)
    KDCU_NAME(CUDNN_STATUS_NOT_SUPPORTED_PADDING)
    KDCU_NAME(CUDNN_STATUS_NOT_SUPPORTED_BAD_LAUNCH_PARAM)
    KDCU_NAME(CUDNN_STATUS_NOT_SUPPORTED_CUDA_GRAPH_NATIVE_API)
    KDCU_NAME(CUDNN_STATUS_NOT_SUPPORTED_INVALID_DYNAMIC_SHAPE)
    KDCU_NAME(CUDNN_STATUS_INTERNAL_ERROR)
    KDCU_NAME(CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED)
    KDCU_NAME(CUDNN_STATUS_INTERNAL_ERROR_UNEXPECTED_VALUE)
    KDCU_NAME(CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED)
    KDCU_NAME(CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED)
    KDCU_NAME(CUDNN_STATUS_INTERNAL_ERROR_BAD_LAUNCH_PARAM)
    KDCU_NAME(CUDNN_STATUS_INTERNAL_ERROR_TEXTURE_CREATION_FAILED)
    KDCU_NAME(CUDNN_STATUS_EXECUTION_FAILED)
    KDCU_NAME(CUDNN_STATUS_EXECUTION_FAILED_CUDA_DRIVER)
    KDCU_NAME(CUDNN_STATUS_EXECUTION_FAILED_CUBLAS)
    KDCU_NAME(CUDNN_STATUS_EXECUTION_FAILED_CUDART)
    KDCU_NAME(CUDNN_STATUS_EXECUTION_FAILED_CURAND)
    KDCU_NAME(CUDNN_STATUS_INVALID_VALUE)
#undef KDCU_NAME
  }
  return "CUDNN_UNKNOWN_STATUS_FOUND";
}

void cudnnGetLastErrorString(char* message, size_t max_size) {
  if (!message || max_size == 0) return;
  const std::string& text = kdcu::emu::t_last_error;
  const size_t n = text.size() < max_size - 1 ? text.size() : max_size - 1;
  text.copy(message, n);
  message[n] = '\0';
}

cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t* tensorDesc) {
  if (!tensorDesc) return cudnn_fail(CUDNN_STATUS_BAD_PARAM, "cudnnCreateTensorDescriptor", "tensorDesc is NULL");
  *tensorDesc = new cudnnTensorStruct;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t tensorDesc) {
  if (!tensorDesc) return CUDNN_STATUS_SUCCESS;  // as cuDNN: destroying NULL is a no-op
  if (tensorDesc->magic != kCudnnTensorMagic) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, "cudnnDestroyTensorDescriptor", "not a tensor descriptor");
  }
  tensorDesc->magic = 0;
  delete tensorDesc;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t tensorDesc, cudnnTensorFormat_t format,
                                         cudnnDataType_t dataType, int n, int c, int h, int w) {
  const char* call = "cudnnSetTensor4dDescriptor";
  if (!tensorDesc || tensorDesc->magic != kCudnnTensorMagic) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, "tensorDesc is not a tensor descriptor");
  }
  if (auto s = kdcu::emu::check_4d(call, format, dataType, n, c, h, w)) return s;
  *tensorDesc = cudnnTensorStruct{};
  tensorDesc->set = true;
  tensorDesc->type = dataType;
  tensorDesc->n = n, tensorDesc->c = c, tensorDesc->h = h, tensorDesc->w = w;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t* filterDesc) {
  if (!filterDesc) return cudnn_fail(CUDNN_STATUS_BAD_PARAM, "cudnnCreateFilterDescriptor", "filterDesc is NULL");
  *filterDesc = new cudnnFilterStruct;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t filterDesc) {
  if (!filterDesc) return CUDNN_STATUS_SUCCESS;
  if (filterDesc->magic != kCudnnFilterMagic) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, "cudnnDestroyFilterDescriptor", "not a filter descriptor");
  }
  filterDesc->magic = 0;
  delete filterDesc;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t filterDesc, cudnnDataType_t dataType,
                                         cudnnTensorFormat_t format, int k, int c, int h, int w) {
  const char* call = "cudnnSetFilter4dDescriptor";
  if (!filterDesc || filterDesc->magic != kCudnnFilterMagic) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, "filterDesc is not a filter descriptor");
  }
  if (auto s = kdcu::emu::check_4d(call, format, dataType, k, c, h, w)) return s;
  *filterDesc = cudnnFilterStruct{};
  filterDesc->set = true;
  filterDesc->type = dataType;
  filterDesc->k = k, filterDesc->c = c, filterDesc->h = h, filterDesc->w = w;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* convDesc) {
  if (!convDesc) return cudnn_fail(CUDNN_STATUS_BAD_PARAM, "cudnnCreateConvolutionDescriptor", "convDesc is NULL");
  *convDesc = new cudnnConvolutionStruct;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t convDesc) {
  if (!convDesc) return CUDNN_STATUS_SUCCESS;
  if (convDesc->magic != kCudnnConvMagic) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, "cudnnDestroyConvolutionDescriptor", "not a convolution descriptor");
  }
  convDesc->magic = 0;
  delete convDesc;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t convDesc, int pad_h, int pad_w, int u, int v,
                                              int dilation_h, int dilation_w, cudnnConvolutionMode_t mode,
                                              cudnnDataType_t computeType) {
  const char* call = "cudnnSetConvolution2dDescriptor";
  if (!convDesc || convDesc->magic != kCudnnConvMagic) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, "convDesc is not a convolution descriptor");
  }
  std::ostringstream bad;
  if (pad_h < 0 || pad_w < 0) bad << "padding must be >= 0, found (" << pad_h << ", " << pad_w << ")";
  if (u < 1 || v < 1) bad << "stride must be >= 1, found (" << u << ", " << v << ")";
  if (dilation_h < 1 || dilation_w < 1) {
    bad << "dilation must be >= 1, found (" << dilation_h << ", " << dilation_w << ")";
  }
  if (mode != CUDNN_CONVOLUTION && mode != CUDNN_CROSS_CORRELATION) bad << "unknown mode " << mode;
  if (!kdcu::emu::valid_type(computeType)) bad << "unknown computeType " << computeType;
  if (!bad.str().empty()) return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, bad.str());
  const cudnnMathType_t math = convDesc->math;  // the math type is its own setting
  *convDesc = cudnnConvolutionStruct{};
  convDesc->set = true;
  convDesc->pad_h = pad_h, convDesc->pad_w = pad_w, convDesc->stride_h = u, convDesc->stride_w = v;
  convDesc->dil_h = dilation_h, convDesc->dil_w = dilation_w;
  convDesc->mode = mode;
  convDesc->compute = computeType;
  convDesc->math = math;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t convDesc, cudnnMathType_t mathType) {
  const char* call = "cudnnSetConvolutionMathType";
  if (!convDesc || convDesc->magic != kCudnnConvMagic) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, "convDesc is not a convolution descriptor");
  }
  if (mathType != CUDNN_DEFAULT_MATH && mathType != CUDNN_TENSOR_OP_MATH &&
      mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION && mathType != CUDNN_FMA_MATH) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, "unknown mathType " + std::to_string(mathType));
  }
  convDesc->math = mathType;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionMathType(cudnnConvolutionDescriptor_t convDesc, cudnnMathType_t* mathType) {
  const char* call = "cudnnGetConvolutionMathType";
  if (!convDesc || convDesc->magic != kCudnnConvMagic) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, "convDesc is not a convolution descriptor");
  }
  if (!mathType) return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, "mathType is NULL");
  *mathType = convDesc->math;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(const cudnnConvolutionDescriptor_t convDesc,
                                                    const cudnnTensorDescriptor_t inputTensorDesc,
                                                    const cudnnFilterDescriptor_t filterDesc, int* n, int* c, int* h,
                                                    int* w) {
  const char* call = "cudnnGetConvolution2dForwardOutputDim";
  if (auto s = kdcu::emu::cudnn_check_conv(convDesc, call, "convDesc")) return s;
  if (auto s = kdcu::emu::cudnn_check_tensor(inputTensorDesc, call, "inputTensorDesc")) return s;
  if (auto s = kdcu::emu::cudnn_check_filter(filterDesc, call, "filterDesc")) return s;
  if (!n || !c || !h || !w) return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, "an output pointer is NULL");
  const cudnnTensorStruct& x = *inputTensorDesc;
  const cudnnFilterStruct& f = *filterDesc;
  if (x.c != f.c) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call,
                      "the input has " + std::to_string(x.c) + " channels but the filter " + std::to_string(f.c));
  }
  // out = 1 + (in + 2 pad - ((filter - 1) dilation + 1)) / stride, which needs the dilated filter
  // to fit in the padded input (C++ division would round a negative quotient up to 0).
  const std::int64_t span_h = static_cast<std::int64_t>(f.h - 1) * convDesc->dil_h + 1;
  const std::int64_t span_w = static_cast<std::int64_t>(f.w - 1) * convDesc->dil_w + 1;
  const std::int64_t room_h = x.h + 2 * static_cast<std::int64_t>(convDesc->pad_h) - span_h;
  const std::int64_t room_w = x.w + 2 * static_cast<std::int64_t>(convDesc->pad_w) - span_w;
  if (room_h < 0 || room_w < 0) {
    std::ostringstream os;
    os << "the dilated filter (" << span_h << " x " << span_w << ") is larger than the padded input ("
       << x.h + 2 * static_cast<std::int64_t>(convDesc->pad_h) << " x "
       << x.w + 2 * static_cast<std::int64_t>(convDesc->pad_w) << ")";
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, os.str());
  }
  *n = x.n;
  *c = f.k;
  *h = static_cast<int>(1 + room_h / convDesc->stride_h);
  *w = static_cast<int>(1 + room_w / convDesc->stride_w);
  return CUDNN_STATUS_SUCCESS;
}
