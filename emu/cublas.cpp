// The emulated cuBLAS subset kdcu uses: handles (stream, workspace, math and pointer modes), the
// status names, and cublasGemmEx / cublasGemmStridedBatchedEx with cuBLAS's column-major argument
// rules, computed by OpenBLAS (cblas_sgemm / cblas_dgemm take the same column-major arguments).
// Every operand must be emulated device memory covering what the call touches, else a device
// fault (emu/fault.h) and CUBLAS_STATUS_EXECUTION_FAILED. The work runs at the call, on the
// calling thread: the stream is recorded, not used.
#include <algorithm>
#include <cblas.h>
#include <cstdint>
#include <cstring>
#include <cublas_v2.h>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "emu/fault.h"
#include "emu/memory.h"
#include "emu/registry.h"
#include "emu/tf32.h"

struct cublasContext {
  cudaStream_t stream = nullptr;
  // The user's workspace from cublasSetWorkspace; null with user_workspace false means the
  // library's own (which the emulated GEMM never needs).
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  bool user_workspace = false;
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
  cublasPointerMode_t pointer_mode = CUBLAS_POINTER_MODE_HOST;
};

namespace kdcu {
namespace emu {
namespace {

// A destroyed or made-up handle answers NOT_INITIALIZED instead of being read.
bool live(cublasHandle_t h) {
  return Registry<cublasContext>::instance().contains(h);
}
}  // namespace

size_t cublas_live_handles() {
  return Registry<cublasContext>::instance().size();
}

namespace {

const char* op_name(cublasOperation_t op) {
  return op == CUBLAS_OP_N ? "N" : op == CUBLAS_OP_T ? "T" : "C";
}

// One GEMM call's arguments, after validation; `trans_*` covers OP_T and OP_C (the same for real
// types).
struct Gemm {
  const char* call;
  bool trans_a, trans_b;
  std::int64_t m, n, k, lda, ldb, ldc, stride_a, stride_b, stride_c, batch;
  size_t elem;  // 4 or 8
  bool tf32;
  const char *a, *b;
  char* c;
};

// Elements of a column-major operand of `cols` columns with leading dimension ld, `rows` used.
std::int64_t extent(std::int64_t rows, std::int64_t cols, std::int64_t ld) {
  return (cols - 1) * ld + rows;
}

// Checks that one operand of every batch entry is device memory covering its extent; raises a
// fault naming the operand otherwise.
bool covered(const Gemm& g, const char* name, const char* base, std::int64_t stride, std::int64_t elems,
             const std::string& shape) {
  const size_t bytes = static_cast<size_t>(elems) * g.elem;
  for (std::int64_t i = 0; i < g.batch; ++i) {
    const char* p = base + i * stride * static_cast<std::int64_t>(g.elem);
    if (is_device_range(p, bytes)) continue;
    std::ostringstream os;
    os << g.call << ": operand " << name << " at " << static_cast<const void*>(p);
    if (g.batch > 1) os << " (batch entry " << i << " of " << g.batch << ", stride " << stride << ")";
    os << " is not device memory covering the " << bytes << " bytes (" << elems << " elements, " << shape
       << ") the call touches";
    raise_fault(os.str());
    return false;
  }
  return true;
}

// Reads alpha or beta as the pointer mode says: host memory, or device memory.
bool scalar(const Gemm& g, const cublasContext* h, const char* name, const void* p, double* out) {
  const bool on_device = is_device_range(p, g.elem);
  if (on_device != (h->pointer_mode == CUBLAS_POINTER_MODE_DEVICE)) {
    std::ostringstream os;
    os << g.call << ": " << name << " at " << p << " is " << (on_device ? "" : "not ")
       << "device memory, but the handle's pointer mode is "
       << (h->pointer_mode == CUBLAS_POINTER_MODE_DEVICE ? "CUBLAS_POINTER_MODE_DEVICE" : "CUBLAS_POINTER_MODE_HOST");
    raise_fault(os.str());
    return false;
  }
  if (g.elem == 4) {
    float f;
    std::memcpy(&f, p, 4);
    *out = f;
  } else {
    std::memcpy(out, p, 8);
  }
  return true;
}

template <class T>
void run(const Gemm& g, T alpha, T beta) {
  const auto ta = g.trans_a ? CblasTrans : CblasNoTrans, tb = g.trans_b ? CblasTrans : CblasNoTrans;
  const std::int64_t ext_a = g.k == 0 ? 0 : g.trans_a ? extent(g.k, g.m, g.lda) : extent(g.m, g.k, g.lda);
  const std::int64_t ext_b = g.k == 0 ? 0 : g.trans_b ? extent(g.n, g.k, g.ldb) : extent(g.k, g.n, g.ldb);
  std::vector<float> round_a, round_b;  // TF32-rounded copies, same layout
  for (std::int64_t i = 0; i < g.batch; ++i) {
    const T* a = reinterpret_cast<const T*>(g.a) + i * g.stride_a;
    const T* b = reinterpret_cast<const T*>(g.b) + i * g.stride_b;
    T* c = reinterpret_cast<T*>(g.c) + i * g.stride_c;
    if (beta == T(0)) {
      // beta = 0: C is written, never read, so a NaN already there must not survive (BLAS
      // promises this too; done here so it holds whatever BLAS is linked).
      for (std::int64_t j = 0; j < g.n; ++j) std::fill(c + j * g.ldc, c + j * g.ldc + g.m, T(0));
    }
    if constexpr (sizeof(T) == 4) {
      if (g.tf32 && g.k > 0) {
        round_a.resize(static_cast<size_t>(ext_a));
        round_b.resize(static_cast<size_t>(ext_b));
        for (std::int64_t e = 0; e < ext_a; ++e) round_a[static_cast<size_t>(e)] = round_tf32(a[e]);
        for (std::int64_t e = 0; e < ext_b; ++e) round_b[static_cast<size_t>(e)] = round_tf32(b[e]);
        a = round_a.data();
        b = round_b.data();
      }
      cblas_sgemm(CblasColMajor, ta, tb, static_cast<int>(g.m), static_cast<int>(g.n), static_cast<int>(g.k), alpha, a,
                  static_cast<int>(g.lda), b, static_cast<int>(g.ldb), beta, c, static_cast<int>(g.ldc));
    } else {
      cblas_dgemm(CblasColMajor, ta, tb, static_cast<int>(g.m), static_cast<int>(g.n), static_cast<int>(g.k), alpha, a,
                  static_cast<int>(g.lda), b, static_cast<int>(g.ldb), beta, c, static_cast<int>(g.ldc));
    }
  }
}

bool valid_op(cublasOperation_t op) {
  return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C;
}

bool valid_algo(cublasGemmAlgo_t algo) {
  const int a = static_cast<int>(algo);
  return (a >= CUBLAS_GEMM_DEFAULT && a <= CUBLAS_GEMM_ALGO23) ||
         (a >= CUBLAS_GEMM_DEFAULT_TENSOR_OP && a <= CUBLAS_GEMM_ALGO15_TENSOR_OP) || a == CUBLAS_GEMM_AUTOTUNE;
}

// The whole of both GEMM entries: cuBLAS's checks in its order (handle, values, types), then
// the operands' memory, then the product.
cublasStatus_t gemm(cublasHandle_t handle, const char* call, cublasOperation_t transa, cublasOperation_t transb, int m,
                    int n, int k, const void* alpha, const void* A, cudaDataType Atype, int lda, long long stride_a,
                    const void* B, cudaDataType Btype, int ldb, long long stride_b, const void* beta, void* C,
                    cudaDataType Ctype, int ldc, long long stride_c, int batch, cublasComputeType_t compute,
                    cublasGemmAlgo_t algo) {
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!valid_op(transa) || !valid_op(transb) || m < 0 || n < 0 || k < 0 || batch < 0) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  const bool ta = transa != CUBLAS_OP_N, tb = transb != CUBLAS_OP_N;
  if (lda < std::max(1, ta ? k : m) || ldb < std::max(1, tb ? n : k) || ldc < std::max(1, m)) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  const bool f32 = Atype == CUDA_R_32F && Btype == CUDA_R_32F && Ctype == CUDA_R_32F &&
                   (compute == CUBLAS_COMPUTE_32F || compute == CUBLAS_COMPUTE_32F_PEDANTIC ||
                    compute == CUBLAS_COMPUTE_32F_FAST_TF32);
  const bool f64 = Atype == CUDA_R_64F && Btype == CUDA_R_64F && Ctype == CUDA_R_64F &&
                   (compute == CUBLAS_COMPUTE_64F || compute == CUBLAS_COMPUTE_64F_PEDANTIC);
  if ((!f32 && !f64) || !valid_algo(algo)) return CUBLAS_STATUS_NOT_SUPPORTED;
  if (m == 0 || n == 0 || batch == 0) return CUBLAS_STATUS_SUCCESS;  // nothing to write
  if (!alpha || !beta || !C || (k > 0 && (!A || !B))) return CUBLAS_STATUS_INVALID_VALUE;

  Gemm g;
  g.call = call;
  g.trans_a = ta;
  g.trans_b = tb;
  g.m = m, g.n = n, g.k = k, g.lda = lda, g.ldb = ldb, g.ldc = ldc;
  g.stride_a = stride_a, g.stride_b = stride_b, g.stride_c = stride_c, g.batch = batch;
  g.elem = f32 ? 4 : 8;
  // TF32: asked for by the compute type, or allowed by the handle's math mode for plain
  // COMPUTE_32F (not for _PEDANTIC, which forbids it); the flag bit 16 does not change that.
  const int math = static_cast<int>(handle->math) & ~CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION;
  g.tf32 = f32 && (compute == CUBLAS_COMPUTE_32F_FAST_TF32 ||
                   (compute == CUBLAS_COMPUTE_32F && math == CUBLAS_TF32_TENSOR_OP_MATH));
  g.a = static_cast<const char*>(A);
  g.b = static_cast<const char*>(B);
  g.c = static_cast<char*>(C);
  double alpha_v = 0, beta_v = 0;
  if (!scalar(g, handle, "alpha", alpha, &alpha_v) || !scalar(g, handle, "beta", beta, &beta_v)) {
    return CUBLAS_STATUS_EXECUTION_FAILED;
  }
  std::ostringstream sa, sb, sc;
  sa << "op(A) " << m << " x " << k << ", transa = " << op_name(transa) << ", lda = " << lda;
  sb << "op(B) " << k << " x " << n << ", transb = " << op_name(transb) << ", ldb = " << ldb;
  sc << "C " << m << " x " << n << ", ldc = " << ldc;
  // With k = 0 neither A nor B is read (C = beta C).
  if ((k > 0 && (!covered(g, "A", g.a, stride_a, ta ? extent(k, m, lda) : extent(m, k, lda), sa.str()) ||
                 !covered(g, "B", g.b, stride_b, tb ? extent(n, k, ldb) : extent(k, n, ldb), sb.str()))) ||
      !covered(g, "C", g.c, stride_c, extent(m, n, ldc), sc.str())) {
    return CUBLAS_STATUS_EXECUTION_FAILED;
  }
  if (f32) {
    run<float>(g, static_cast<float>(alpha_v), static_cast<float>(beta_v));
  } else {
    run<double>(g, alpha_v, beta_v);
  }
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace
}  // namespace emu
}  // namespace kdcu

using kdcu::emu::live;

cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
  if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
  *handle = kdcu::emu::Registry<cublasContext>::instance().add(new cublasContext);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
  if (!kdcu::emu::Registry<cublasContext>::instance().remove(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t streamId) {
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = streamId;
  // As the real library does: a new stream goes back to the library's own workspace.
  handle->workspace = nullptr;
  handle->workspace_bytes = 0;
  handle->user_workspace = false;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetStream_v2(cublasHandle_t handle, cudaStream_t* streamId) {
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!streamId) return CUBLAS_STATUS_INVALID_VALUE;
  *streamId = handle->stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void* workspace, size_t workspaceSizeInBytes) {
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  // cuBLAS wants 256-byte alignment; the buffer must be device memory of the size claimed (size 0
  // runs without a workspace).
  if (workspaceSizeInBytes > 0 && (reinterpret_cast<std::uintptr_t>(workspace) % 256 != 0 ||
                                   !kdcu::emu::is_device_range(workspace, workspaceSizeInBytes))) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  handle->workspace = workspace;
  handle->workspace_bytes = workspaceSizeInBytes;
  handle->user_workspace = true;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetMathMode(cublasHandle_t handle, cublasMath_t* mode) {
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!mode) return CUBLAS_STATUS_INVALID_VALUE;
  *mode = handle->math;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  const int base = static_cast<int>(mode) & ~CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION;
  if (base != CUBLAS_DEFAULT_MATH && base != CUBLAS_TENSOR_OP_MATH && base != CUBLAS_PEDANTIC_MATH &&
      base != CUBLAS_TF32_TENSOR_OP_MATH && base != CUBLAS_FP32_EMULATED_BF16X9_MATH &&
      base != CUBLAS_FP64_EMULATED_FIXEDPOINT_MATH) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  handle->math = mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetPointerMode_v2(cublasHandle_t handle, cublasPointerMode_t* mode) {
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!mode) return CUBLAS_STATUS_INVALID_VALUE;
  *mode = handle->pointer_mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetPointerMode_v2(cublasHandle_t handle, cublasPointerMode_t mode) {
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (mode != CUBLAS_POINTER_MODE_HOST && mode != CUBLAS_POINTER_MODE_DEVICE) return CUBLAS_STATUS_INVALID_VALUE;
  handle->pointer_mode = mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void* alpha, const void* A, cudaDataType Atype, int lda, const void* B,
                            cudaDataType Btype, int ldb, const void* beta, void* C, cudaDataType Ctype, int ldc,
                            cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
  return kdcu::emu::gemm(handle, "cublasGemmEx", transa, transb, m, n, k, alpha, A, Atype, lda, 0, B, Btype, ldb, 0,
                         beta, C, Ctype, ldc, 0, 1, computeType, algo);
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                          int m, int n, int k, const void* alpha, const void* A, cudaDataType Atype,
                                          int lda, long long int strideA, const void* B, cudaDataType Btype, int ldb,
                                          long long int strideB, const void* beta, void* C, cudaDataType Ctype, int ldc,
                                          long long int strideC, int batchCount, cublasComputeType_t computeType,
                                          cublasGemmAlgo_t algo) {
  return kdcu::emu::gemm(handle, "cublasGemmStridedBatchedEx", transa, transb, m, n, k, alpha, A, Atype, lda, strideA,
                         B, Btype, ldb, strideB, beta, C, Ctype, ldc, strideC, batchCount, computeType, algo);
}

const char* cublasGetStatusName(cublasStatus_t status) {
  switch (status) {
#define KDCU_NAME(s) \
  case s:            \
    return #s;
    KDCU_NAME(CUBLAS_STATUS_SUCCESS)
    KDCU_NAME(CUBLAS_STATUS_NOT_INITIALIZED)
    KDCU_NAME(CUBLAS_STATUS_ALLOC_FAILED)
    KDCU_NAME(CUBLAS_STATUS_INVALID_VALUE)
    KDCU_NAME(CUBLAS_STATUS_ARCH_MISMATCH)
    KDCU_NAME(CUBLAS_STATUS_MAPPING_ERROR)
    KDCU_NAME(CUBLAS_STATUS_EXECUTION_FAILED)
    KDCU_NAME(CUBLAS_STATUS_INTERNAL_ERROR)
    KDCU_NAME(CUBLAS_STATUS_NOT_SUPPORTED)
    KDCU_NAME(CUBLAS_STATUS_LICENSE_ERROR)
#undef KDCU_NAME
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

const char* cublasGetStatusString(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS:
      return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED:
      return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE:
      return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_ARCH_MISMATCH:
      return "an absent device architectural feature is required";
    case CUBLAS_STATUS_MAPPING_ERROR:
      return "an access to GPU memory space failed";
    case CUBLAS_STATUS_EXECUTION_FAILED:
      return "the GPU program failed to execute";
    case CUBLAS_STATUS_INTERNAL_ERROR:
      return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED:
      return "the functionality requested is not supported";
    case CUBLAS_STATUS_LICENSE_ERROR:
      return "an error was detected when checking the current licensing";
  }
  return "unknown error";
}
