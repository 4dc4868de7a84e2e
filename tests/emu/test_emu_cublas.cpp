// The emulated cuBLAS (emu/cublas.cpp) against cuBLAS's documented semantics: column-major
// products for every transpose pair with padded leading dimensions and batch strides (checked
// against a hand-written loop, the padding left untouched), the argument checks and their
// statuses, beta = 0 not reading C, TF32 rounding (nearest-even, only when asked for), pointer
// modes, workspaces, and device faults for operands outside device memory.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <cublas_v2.h>
#include <limits>
#include <string>
#include <vector>

#include "emu/fault.h"
#include "emu/memory.h"
#include "tests/emu/emu_buffer.h"

namespace kdcu {
namespace {

using testing::Dev;

template <class T>
std::vector<T> ramp(size_t n, double scale, double offset) {
  std::vector<T> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<T>(std::sin(static_cast<double>(i) * scale + offset) * 2.0);
  return v;
}

// The definition, column-major: C = alpha op(A) op(B) + beta C for the m x n block of each batch
// entry; everything else in c (the ldc padding, the gaps between batch entries) is left alone.
template <class T>
void reference(bool ta, bool tb, int m, int n, int k, double alpha, const std::vector<T>& a, int lda, long long sa,
               const std::vector<T>& b, int ldb, long long sb, double beta, std::vector<T>& c, int ldc, long long sc,
               int batch) {
  for (int e = 0; e < batch; ++e)
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < m; ++i) {
        double sum = 0.0;
        for (int l = 0; l < k; ++l) {
          const double av = a[static_cast<size_t>(e * sa + (ta ? l + i * lda : i + l * lda))];
          const double bv = b[static_cast<size_t>(e * sb + (tb ? j + l * ldb : l + j * ldb))];
          sum += av * bv;
        }
        T& out = c[static_cast<size_t>(e * sc + i + j * ldc)];
        out = static_cast<T>(alpha * sum + beta * static_cast<double>(out));
      }
}

class EmuCublas : public ::testing::Test {
 protected:
  void SetUp() override {
    emu::take_fault();
    ASSERT_EQ(cublasCreate(&handle_), CUBLAS_STATUS_SUCCESS);
  }
  void TearDown() override {
    EXPECT_EQ(cublasDestroy(handle_), CUBLAS_STATUS_SUCCESS);
    EXPECT_FALSE(emu::has_fault()) << emu::take_fault();
  }
  cublasHandle_t handle_ = nullptr;
};

// Every transpose pair, f32 and f64, with lda/ldb/ldc larger than the rows and batch strides
// larger than the matrices: the result matches the column-major definition and the padding
// keeps its sentinel.
template <class T>
void check_all_transposes(cublasHandle_t handle) {
  const cudaDataType type = sizeof(T) == 4 ? CUDA_R_32F : CUDA_R_64F;
  const cublasComputeType_t compute = sizeof(T) == 4 ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_64F;
  const int m = 5, n = 4, k = 3, batch = 3;
  const T alpha = T(1.5), beta = T(-0.5);
  const double tol = sizeof(T) == 4 ? 2e-6 : 1e-14;
  for (const bool ta : {false, true})
    for (const bool tb : {false, true}) {
      const int lda = (ta ? k : m) + 2, ldb = (tb ? n : k) + 1, ldc = m + 3;
      const long long sa = static_cast<long long>(lda) * (ta ? m : k) + 7,
                      sb = static_cast<long long>(ldb) * (tb ? k : n) + 5;
      const long long sc = static_cast<long long>(ldc) * n + 4;
      const std::vector<T> a = ramp<T>(static_cast<size_t>(sa * batch), 0.37, 0.1);
      const std::vector<T> b = ramp<T>(static_cast<size_t>(sb * batch), 0.53, 0.7);
      std::vector<T> c = ramp<T>(static_cast<size_t>(sc * batch), 0.29, 1.3);
      for (size_t i = 0; i < c.size(); ++i) {
        if (static_cast<long long>(i) % sc % ldc >= m || static_cast<long long>(i) % sc >= ldc * n) c[i] = T(1234.5);
      }
      Dev<T> da(a), db(b), dc(c);
      const std::string what = std::string("transa ") + (ta ? "T" : "N") + ", transb " + (tb ? "T" : "N");
      ASSERT_EQ(cublasGemmStridedBatchedEx(handle, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n,
                                           k, &alpha, da.get(), type, lda, sa, db.get(), type, ldb, sb, &beta, dc.get(),
                                           type, ldc, sc, batch, compute, CUBLAS_GEMM_DEFAULT),
                CUBLAS_STATUS_SUCCESS)
          << what;
      std::vector<T> want = c;
      reference(ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, want, ldc, sc, batch);
      const std::vector<T> got = dc.host();
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_NEAR(got[i], want[i], tol * (1.0 + std::fabs(static_cast<double>(want[i]))))
            << what << ", element " << i;
      }
      // The single-matrix entry computes batch entry 0 the same way.
      Dev<T> dc1(c);
      ASSERT_EQ(cublasGemmEx(handle, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha,
                             da.get(), type, lda, db.get(), type, ldb, &beta, dc1.get(), type, ldc, compute,
                             CUBLAS_GEMM_DEFAULT),
                CUBLAS_STATUS_SUCCESS);
      const std::vector<T> got1 = dc1.host();
      for (long long i = 0; i < sc; ++i) EXPECT_EQ(got1[static_cast<size_t>(i)], got[static_cast<size_t>(i)]) << what;
      EXPECT_EQ(got1[static_cast<size_t>(sc)], c[static_cast<size_t>(sc)]) << "GemmEx wrote past batch entry 0";
    }
}

TEST_F(EmuCublas, ColumnMajorForEveryTransposePairF32) {
  check_all_transposes<float>(handle_);
}

TEST_F(EmuCublas, ColumnMajorForEveryTransposePairF64) {
  check_all_transposes<double>(handle_);
}

// A small f32 product on fresh buffers with the given shape arguments; returns the status.
cublasStatus_t gemm_status(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, int lda,
                           int ldb, int ldc, cudaDataType at = CUDA_R_32F, cudaDataType bt = CUDA_R_32F,
                           cudaDataType ct = CUDA_R_32F, cublasComputeType_t compute = CUBLAS_COMPUTE_32F) {
  Dev<double> a(256), b(256), c(256);  // large enough for every call here, either type
  const double one = 1.0;
  const float onef = 1.0f;
  const void* s = at == CUDA_R_64F ? static_cast<const void*>(&one) : static_cast<const void*>(&onef);
  return cublasGemmEx(h, ta, tb, m, n, k, s, a.get(), at, lda, b.get(), bt, ldb, s, c.get(), ct, ldc, compute,
                      CUBLAS_GEMM_DEFAULT);
}

TEST_F(EmuCublas, ShapeArgumentsAreValidatedAsDocumented) {
  const auto N = CUBLAS_OP_N, T = CUBLAS_OP_T;
  EXPECT_EQ(gemm_status(handle_, N, N, 4, 3, 2, 4, 2, 4), CUBLAS_STATUS_SUCCESS);  // the tightest legal lds
  EXPECT_EQ(gemm_status(handle_, T, T, 4, 3, 2, 2, 3, 4), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(gemm_status(handle_, N, N, -1, 3, 2, 4, 2, 4), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(gemm_status(handle_, N, N, 4, -1, 2, 4, 2, 4), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(gemm_status(handle_, N, N, 4, 3, -1, 4, 2, 4), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(gemm_status(handle_, N, N, 4, 3, 2, 3, 2, 4), CUBLAS_STATUS_INVALID_VALUE);  // lda < m
  EXPECT_EQ(gemm_status(handle_, T, N, 4, 3, 2, 1, 2, 4), CUBLAS_STATUS_INVALID_VALUE);  // lda < k
  EXPECT_EQ(gemm_status(handle_, T, N, 4, 3, 2, 2, 2, 4), CUBLAS_STATUS_SUCCESS);        // lda = k with transa
  EXPECT_EQ(gemm_status(handle_, N, N, 4, 3, 2, 4, 1, 4), CUBLAS_STATUS_INVALID_VALUE);  // ldb < k
  EXPECT_EQ(gemm_status(handle_, N, T, 4, 3, 2, 4, 2, 4), CUBLAS_STATUS_INVALID_VALUE);  // ldb < n
  EXPECT_EQ(gemm_status(handle_, N, N, 4, 3, 2, 4, 2, 3), CUBLAS_STATUS_INVALID_VALUE);  // ldc < m
  EXPECT_EQ(gemm_status(handle_, N, N, 0, 3, 2, 0, 2, 1), CUBLAS_STATUS_INVALID_VALUE);  // ld >= 1 even when m = 0
  EXPECT_EQ(gemm_status(handle_, N, N, 0, 3, 2, 1, 2, 1), CUBLAS_STATUS_SUCCESS);
  // CONJG is a placeholder cuBLAS rejects (out-of-range values would be undefined behaviour in C++).
  EXPECT_EQ(gemm_status(handle_, CUBLAS_OP_CONJG, N, 4, 3, 2, 4, 2, 4), CUBLAS_STATUS_INVALID_VALUE);
  Dev<float> a(64), b(64), c(64);
  const float one = 1.0f;
  EXPECT_EQ(cublasGemmStridedBatchedEx(handle_, N, N, 2, 2, 2, &one, a.get(), CUDA_R_32F, 2, 4, b.get(), CUDA_R_32F, 2,
                                       4, &one, c.get(), CUDA_R_32F, 2, 4, -1, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasGemmStridedBatchedEx(handle_, N, N, 2, 2, 2, &one, a.get(), CUDA_R_32F, 2, 4, b.get(), CUDA_R_32F, 2,
                                       4, &one, c.get(), CUDA_R_32F, 2, 4, 0, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
}

TEST_F(EmuCublas, UnsupportedTypeCombinationsAreNotSupported) {
  const auto N = CUBLAS_OP_N;
  EXPECT_EQ(gemm_status(handle_, N, N, 2, 2, 2, 2, 2, 2, CUDA_R_64F, CUDA_R_64F, CUDA_R_64F, CUBLAS_COMPUTE_64F),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(gemm_status(handle_, N, N, 2, 2, 2, 2, 2, 2, CUDA_R_32F, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_64F),
            CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(gemm_status(handle_, N, N, 2, 2, 2, 2, 2, 2, CUDA_R_64F, CUDA_R_64F, CUDA_R_64F, CUBLAS_COMPUTE_32F),
            CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(gemm_status(handle_, N, N, 2, 2, 2, 2, 2, 2, CUDA_R_32F, CUDA_R_64F, CUDA_R_32F, CUBLAS_COMPUTE_32F),
            CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(gemm_status(handle_, N, N, 2, 2, 2, 2, 2, 2, CUDA_R_16F, CUDA_R_16F, CUDA_R_16F, CUBLAS_COMPUTE_32F),
            CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(gemm_status(handle_, N, N, 2, 2, 2, 2, 2, 2, CUDA_R_32F, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_16F),
            CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(
      gemm_status(handle_, N, N, 2, 2, 2, 2, 2, 2, CUDA_R_64F, CUDA_R_64F, CUDA_R_64F, CUBLAS_COMPUTE_32F_FAST_TF32),
      CUBLAS_STATUS_NOT_SUPPORTED);
}

TEST_F(EmuCublas, NullOrDestroyedHandleIsNotInitialized) {
  EXPECT_EQ(gemm_status(nullptr, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, 2, 2, 2), CUBLAS_STATUS_NOT_INITIALIZED);
  cublasHandle_t other = nullptr;
  ASSERT_EQ(cublasCreate(&other), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasDestroy(other), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(gemm_status(other, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, 2, 2, 2), CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_EQ(cublasSetMathMode(other, CUBLAS_DEFAULT_MATH), CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_EQ(cublasDestroy(other), CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_EQ(cublasCreate(nullptr), CUBLAS_STATUS_INVALID_VALUE);
}

TEST_F(EmuCublas, BetaZeroDoesNotReadC) {
  const std::vector<float> a = {1, 2, 3, 4}, b = {5, 6, 7, 8};  // 2 x 2, column-major
  Dev<float> da(a), db(b), dc(std::vector<float>(4, std::numeric_limits<float>::quiet_NaN()));
  const float alpha = 2.0f, beta = 0.0f;
  ASSERT_EQ(cublasGemmEx(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &alpha, da.get(), CUDA_R_32F, 2, db.get(),
                         CUDA_R_32F, 2, &beta, dc.get(), CUDA_R_32F, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  // A B = [[1 3],[2 4]] [[5 7],[6 8]] = [[23 31],[34 46]], column-major 23 34 31 46.
  EXPECT_EQ(dc.host(), (std::vector<float>{46, 68, 62, 92}));
  // k = 0: C = beta C, A and B unread (and beta = 0 again clears the NaN).
  dc.set(std::vector<float>(4, std::numeric_limits<float>::quiet_NaN()));
  ASSERT_EQ(cublasGemmEx(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 0, &alpha, da.get(), CUDA_R_32F, 2, db.get(),
                         CUDA_R_32F, 1, &beta, dc.get(), CUDA_R_32F, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(dc.host(), (std::vector<float>{0, 0, 0, 0}));
}

// One 1 x 1 x 1 f32 product a * 1 under a compute type and math mode.
float product(cublasHandle_t h, float a, cublasComputeType_t compute, cublasMath_t math) {
  EXPECT_EQ(cublasSetMathMode(h, math), CUBLAS_STATUS_SUCCESS);
  Dev<float> da(std::vector<float>{a}), db(std::vector<float>{1.0f}), dc(1);
  const float one = 1.0f, zero = 0.0f;
  EXPECT_EQ(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, da.get(), CUDA_R_32F, 1, db.get(), CUDA_R_32F, 1,
                         &zero, dc.get(), CUDA_R_32F, 1, compute, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  return dc.host()[0];
}

TEST_F(EmuCublas, Tf32RoundsInputsToNearestEvenOnlyWhenAskedFor) {
  const float ulp = std::ldexp(1.0f, -10);  // TF32's spacing at 1
  const float tie_down = 1.0f + ulp / 2, tie_up = 1.0f + 1.5f * ulp, above = 1.0f + ulp / 2 + std::ldexp(1.0f, -20);
  EXPECT_EQ(product(handle_, tie_down, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_DEFAULT_MATH), 1.0f);
  EXPECT_EQ(product(handle_, tie_up, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_DEFAULT_MATH), 1.0f + 2 * ulp);
  EXPECT_EQ(product(handle_, above, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_DEFAULT_MATH), 1.0f + ulp);
  EXPECT_EQ(product(handle_, -tie_up, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_DEFAULT_MATH), -(1.0f + 2 * ulp));
  // COMPUTE_32F is full f32 under the default math, TF32 under the TF32 tensor-op math mode.
  EXPECT_EQ(product(handle_, tie_down, CUBLAS_COMPUTE_32F, CUBLAS_DEFAULT_MATH), tie_down);
  EXPECT_EQ(product(handle_, tie_down, CUBLAS_COMPUTE_32F, CUBLAS_TF32_TENSOR_OP_MATH), 1.0f);
  EXPECT_EQ(product(handle_, tie_down, CUBLAS_COMPUTE_32F_PEDANTIC, CUBLAS_TF32_TENSOR_OP_MATH), tie_down);
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(product(handle_, inf, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_DEFAULT_MATH), inf);
  EXPECT_TRUE(std::isnan(
      product(handle_, std::numeric_limits<float>::quiet_NaN(), CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_DEFAULT_MATH)));
}

TEST_F(EmuCublas, HostOperandRaisesAFaultNamingIt) {
  std::vector<float> host_a(16, 1.0f);
  Dev<float> b(16), c(16);
  const float one = 1.0f;
  EXPECT_EQ(cublasGemmEx(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, host_a.data(), CUDA_R_32F, 4, b.get(),
                         CUDA_R_32F, 4, &one, c.get(), CUDA_R_32F, 4, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_EXECUTION_FAILED);
  ASSERT_TRUE(emu::has_fault());
  const std::string report = emu::take_fault();
  EXPECT_NE(report.find("cublasGemmEx"), std::string::npos) << report;
  EXPECT_NE(report.find("operand A"), std::string::npos) << report;
  EXPECT_NE(report.find("64 bytes"), std::string::npos) << report;
  EXPECT_FALSE(emu::has_fault());
  // A device buffer one element short of what ldb says is read: B's last batch entry.
  Dev<float> a(16), short_b(2 * 16 - 1);
  EXPECT_EQ(cublasGemmStridedBatchedEx(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, a.get(), CUDA_R_32F, 4, 0,
                                       short_b.get(), CUDA_R_32F, 4, 16, &one, c.get(), CUDA_R_32F, 4, 0, 2,
                                       CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_EXECUTION_FAILED);
  const std::string report2 = emu::take_fault();
  EXPECT_NE(report2.find("operand B"), std::string::npos) << report2;
  EXPECT_NE(report2.find("batch entry 1"), std::string::npos) << report2;
}

TEST_F(EmuCublas, PointerModeDecidesWhereAlphaAndBetaLive) {
  cublasPointerMode_t mode;
  ASSERT_EQ(cublasGetPointerMode(handle_, &mode), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(mode, CUBLAS_POINTER_MODE_HOST);
  ASSERT_EQ(cublasSetPointerMode(handle_, CUBLAS_POINTER_MODE_DEVICE), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasGetPointerMode(handle_, &mode), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(mode, CUBLAS_POINTER_MODE_DEVICE);
  Dev<double> a(std::vector<double>{3}), b(std::vector<double>{4}), c(std::vector<double>{10});
  Dev<double> alpha(std::vector<double>{2}), beta(std::vector<double>{0.5});
  ASSERT_EQ(cublasGemmEx(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, alpha.get(), a.get(), CUDA_R_64F, 1, b.get(),
                         CUDA_R_64F, 1, beta.get(), c.get(), CUDA_R_64F, 1, CUBLAS_COMPUTE_64F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(c.host()[0], 2 * 3 * 4 + 0.5 * 10);
  const double host_alpha = 2;
  EXPECT_EQ(cublasGemmEx(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &host_alpha, a.get(), CUDA_R_64F, 1, b.get(),
                         CUDA_R_64F, 1, beta.get(), c.get(), CUDA_R_64F, 1, CUBLAS_COMPUTE_64F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_EXECUTION_FAILED);
  const std::string report = emu::take_fault();
  EXPECT_NE(report.find("alpha"), std::string::npos) << report;
}

TEST_F(EmuCublas, StreamWorkspaceAndMathModeSettings) {
  cudaStream_t s = reinterpret_cast<cudaStream_t>(0x1234), got = nullptr;
  ASSERT_EQ(cublasSetStream(handle_, s), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasGetStream(handle_, &got), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(got, s);
  Dev<char> ws(4096);
  EXPECT_EQ(cublasSetWorkspace(handle_, ws.get(), 4096), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(cublasSetWorkspace(handle_, ws.get(), 4097), CUBLAS_STATUS_INVALID_VALUE);  // larger than the buffer
  std::vector<char> host(4096);
  EXPECT_EQ(cublasSetWorkspace(handle_, host.data(), 1024), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasSetWorkspace(handle_, ws.get() + 8, 1024), CUBLAS_STATUS_INVALID_VALUE);  // not 256-byte aligned
  EXPECT_EQ(cublasSetWorkspace(handle_, nullptr, 0), CUBLAS_STATUS_SUCCESS);
  cublasMath_t math;
  ASSERT_EQ(cublasGetMathMode(handle_, &math), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(math, CUBLAS_DEFAULT_MATH);
  ASSERT_EQ(cublasSetMathMode(handle_, CUBLAS_TF32_TENSOR_OP_MATH), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasGetMathMode(handle_, &math), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(math, CUBLAS_TF32_TENSOR_OP_MATH);
  EXPECT_EQ(cublasSetMathMode(handle_, static_cast<cublasMath_t>(5)), CUBLAS_STATUS_INVALID_VALUE);  // no such mode
  EXPECT_EQ(cublasGetStream(handle_, nullptr), CUBLAS_STATUS_INVALID_VALUE);
}

TEST(EmuCublasStatus, NamesAndStrings) {
  EXPECT_STREQ(cublasGetStatusName(CUBLAS_STATUS_NOT_SUPPORTED), "CUBLAS_STATUS_NOT_SUPPORTED");
  EXPECT_STREQ(cublasGetStatusName(CUBLAS_STATUS_INVALID_VALUE), "CUBLAS_STATUS_INVALID_VALUE");
  EXPECT_STREQ(cublasGetStatusString(CUBLAS_STATUS_SUCCESS), "success");
  EXPECT_STRNE(cublasGetStatusString(CUBLAS_STATUS_EXECUTION_FAILED), cublasGetStatusString(CUBLAS_STATUS_SUCCESS));
  EXPECT_STREQ(cublasGetStatusName(static_cast<cublasStatus_t>(2)), "CUBLAS_STATUS_UNKNOWN");  // no status 2
}

}  // namespace
}  // namespace kdcu
