// The emulated cuDNN (emu/cudnn_*.cpp) against cuDNN's documented semantics: every emulated
// convolution algorithm of every pass against a naive direct loop in double on awkward
// geometries (stride, padding, dilation, non-square, both modes), f32 and f64, with alpha/beta
// blending; TF32 math; workspace sizes and checks (and that the claimed workspace is all
// written); Find*Ex's results; the output size formula; descriptor errors and the last-error
// text; device faults; cudnnAddTensor's broadcast; batch norm forward and backward against the
// direct formulas and finite differences.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <cudnn.h>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "emu/fault.h"
#include "emu/memory.h"
#include "tests/emu/emu_buffer.h"

namespace kdcu {
namespace {

using i64 = std::int64_t;

using testing::Dev;

template <class T>
std::vector<T> values(size_t n, double seed) {
  std::vector<T> v(n);
  for (size_t i = 0; i < n; ++i) {
    v[i] = static_cast<T>(std::sin(static_cast<double>(i) * 0.731 + seed) * 1.7 + std::cos(seed * i * 0.013) * 0.3);
  }
  return v;
}

std::string last_error() {
  char buf[512];
  cudnnGetLastErrorString(buf, sizeof(buf));
  return buf;
}

float tf32(float v) {
  std::uint32_t bits;
  std::memcpy(&bits, &v, 4);
  bits += 0xfffu + ((bits >> 13) & 1u);
  bits &= ~0x1fffu;
  std::memcpy(&v, &bits, 4);
  return v;
}

// RAII descriptors, set at construction (the status is kept for the tests of Set's errors).
struct Tensor4d {
  cudnnTensorDescriptor_t d = nullptr;
  cudnnStatus_t status;
  Tensor4d(cudnnDataType_t t, int n, int c, int h, int w, cudnnTensorFormat_t f = CUDNN_TENSOR_NCHW) {
    cudnnCreateTensorDescriptor(&d);
    status = cudnnSetTensor4dDescriptor(d, f, t, n, c, h, w);
  }
  ~Tensor4d() { cudnnDestroyTensorDescriptor(d); }
};
struct Filter4d {
  cudnnFilterDescriptor_t d = nullptr;
  cudnnStatus_t status;
  Filter4d(cudnnDataType_t t, int k, int c, int h, int w) {
    cudnnCreateFilterDescriptor(&d);
    status = cudnnSetFilter4dDescriptor(d, t, CUDNN_TENSOR_NCHW, k, c, h, w);
  }
  ~Filter4d() { cudnnDestroyFilterDescriptor(d); }
};
struct Conv2d {
  cudnnConvolutionDescriptor_t d = nullptr;
  cudnnStatus_t status;
  Conv2d(int ph, int pw, int sh, int sw, int dh, int dw, cudnnConvolutionMode_t mode, cudnnDataType_t compute,
         cudnnMathType_t math = CUDNN_DEFAULT_MATH) {
    cudnnCreateConvolutionDescriptor(&d);
    status = cudnnSetConvolution2dDescriptor(d, ph, pw, sh, sw, dh, dw, mode, compute);
    cudnnSetConvolutionMathType(d, math);
  }
  ~Conv2d() { cudnnDestroyConvolutionDescriptor(d); }
};

struct Geometry {
  int n, cin, h, w, cout, kh, kw, ph, pw, sh, sw, dh, dw;
  cudnnConvolutionMode_t mode;
  int oh() const { return 1 + (h + 2 * ph - ((kh - 1) * dh + 1)) / sh; }
  int ow() const { return 1 + (w + 2 * pw - ((kw - 1) * dw + 1)) / sw; }
  size_t xs() const { return static_cast<size_t>(n) * cin * h * w; }
  size_t ys() const { return static_cast<size_t>(n) * cout * oh() * ow(); }
  size_t ws() const { return static_cast<size_t>(cout) * cin * kh * kw; }
};

// N = 3, Cin = 5, Cout = 7, non-square everything; stride 2, padding, dilation 2 in turn; both modes.
const Geometry kGeometries[] = {
    {3, 5, 11, 8, 7, 3, 2, 1, 2, 2, 1, 2, 1, CUDNN_CROSS_CORRELATION},
    {3, 5, 9, 10, 7, 2, 3, 0, 1, 1, 2, 1, 2, CUDNN_CROSS_CORRELATION},
    {3, 5, 7, 9, 7, 3, 3, 2, 1, 2, 2, 2, 1, CUDNN_CONVOLUTION},
    // More images than the batched algorithms take at once (8): a full chunk, then a partial one.
    {11, 2, 6, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION},
};

// The definition: every (n, co, oh, ow, ci, ki, kj) term once, in double. For CUDNN_CONVOLUTION
// the filter is applied flipped. Fills y, and dx / dw from dy.
struct Naive {
  std::vector<double> y, dx, dw;
};
template <class T>
Naive naive(const Geometry& g, const std::vector<T>& x, const std::vector<T>& w, const std::vector<T>& dy,
            bool round_tf32 = false) {
  const auto in = [&](T v) { return round_tf32 ? static_cast<double>(tf32(static_cast<float>(v))) : double(v); };
  Naive r{std::vector<double>(g.ys()), std::vector<double>(g.xs()), std::vector<double>(g.ws())};
  for (int n = 0; n < g.n; ++n)
    for (int co = 0; co < g.cout; ++co)
      for (int oh = 0; oh < g.oh(); ++oh)
        for (int ow = 0; ow < g.ow(); ++ow)
          for (int ci = 0; ci < g.cin; ++ci)
            for (int ki = 0; ki < g.kh; ++ki)
              for (int kj = 0; kj < g.kw; ++kj) {
                const int ih = oh * g.sh - g.ph + ki * g.dh, iw = ow * g.sw - g.pw + kj * g.dw;
                if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
                const int fi = g.mode == CUDNN_CONVOLUTION ? g.kh - 1 - ki : ki;
                const int fj = g.mode == CUDNN_CONVOLUTION ? g.kw - 1 - kj : kj;
                const size_t xi = ((static_cast<size_t>(n) * g.cin + ci) * g.h + ih) * g.w + iw;
                const size_t wi = ((static_cast<size_t>(co) * g.cin + ci) * g.kh + fi) * g.kw + fj;
                const size_t yi = ((static_cast<size_t>(n) * g.cout + co) * g.oh() + oh) * g.ow() + ow;
                r.y[yi] += in(x[xi]) * in(w[wi]);
                r.dx[xi] += in(dy[yi]) * in(w[wi]);
                r.dw[wi] += in(dy[yi]) * in(x[xi]);
              }
  return r;
}

template <class T>
constexpr cudnnDataType_t dtype() {
  return sizeof(T) == 4 ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE;
}

template <class T>
void expect_close(const std::vector<T>& got, const std::vector<double>& want, double alpha, double beta,
                  const std::vector<T>& before, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    const double w = alpha * want[i] + (beta == 0 ? 0.0 : beta * static_cast<double>(before[i]));
    ASSERT_NEAR(static_cast<double>(got[i]), w, tol * (1.0 + std::fabs(w))) << what << ", element " << i;
  }
}

class EmuCudnn : public ::testing::Test {
 protected:
  void SetUp() override {
    emu::take_fault();
    ASSERT_EQ(cudnnCreate(&handle_), CUDNN_STATUS_SUCCESS);
  }
  void TearDown() override {
    EXPECT_EQ(cudnnDestroy(handle_), CUDNN_STATUS_SUCCESS);
    EXPECT_FALSE(emu::has_fault()) << emu::take_fault();
  }
  cudnnHandle_t handle_ = nullptr;
};

enum Pass { kForward, kBackwardData, kBackwardFilter };
const char* const kPassNames[] = {"forward", "backward data", "backward filter"};
const int kAlgoCounts[] = {CUDNN_CONVOLUTION_FWD_ALGO_COUNT, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                           CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT};

// One convolution problem's descriptors and device buffers.
template <class T>
struct Problem {
  const Geometry& g;
  Tensor4d xd, yd;
  Filter4d wd;
  Conv2d cd;
  std::vector<T> x, w, dy;
  Dev<T> dx_in, dw_in, ddy;
  Problem(const Geometry& geo, cudnnMathType_t math = CUDNN_DEFAULT_MATH)
      : g(geo),
        xd(dtype<T>(), g.n, g.cin, g.h, g.w),
        yd(dtype<T>(), g.n, g.cout, g.oh(), g.ow()),
        wd(dtype<T>(), g.cout, g.cin, g.kh, g.kw),
        cd(g.ph, g.pw, g.sh, g.sw, g.dh, g.dw, g.mode, dtype<T>(), math),
        x(values<T>(g.xs(), 0.3)),
        w(values<T>(g.ws(), 1.1)),
        dy(values<T>(g.ys(), 2.9)),
        dx_in(x),
        dw_in(w),
        ddy(dy) {}

  cudnnStatus_t workspace(cudnnHandle_t h, Pass p, int algo, size_t* bytes) const {
    switch (p) {
      case kForward:
        return cudnnGetConvolutionForwardWorkspaceSize(h, xd.d, wd.d, cd.d, yd.d,
                                                       static_cast<cudnnConvolutionFwdAlgo_t>(algo), bytes);
      case kBackwardData:
        return cudnnGetConvolutionBackwardDataWorkspaceSize(h, wd.d, yd.d, cd.d, xd.d,
                                                            static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), bytes);
      default:
        return cudnnGetConvolutionBackwardFilterWorkspaceSize(
            h, xd.d, yd.d, cd.d, wd.d, static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), bytes);
    }
  }
  // Runs pass p into out (a device buffer of the pass's output size).
  cudnnStatus_t run(cudnnHandle_t h, Pass p, int algo, T alpha, T beta, T* out, void* ws, size_t ws_bytes) const {
    switch (p) {
      case kForward:
        return cudnnConvolutionForward(h, &alpha, xd.d, dx_in.get(), wd.d, dw_in.get(), cd.d,
                                       static_cast<cudnnConvolutionFwdAlgo_t>(algo), ws, ws_bytes, &beta, yd.d, out);
      case kBackwardData:
        return cudnnConvolutionBackwardData(h, &alpha, wd.d, dw_in.get(), yd.d, ddy.get(), cd.d,
                                            static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), ws, ws_bytes, &beta, xd.d,
                                            out);
      default:
        return cudnnConvolutionBackwardFilter(h, &alpha, xd.d, dx_in.get(), yd.d, ddy.get(), cd.d,
                                              static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), ws, ws_bytes, &beta,
                                              wd.d, out);
    }
  }
  size_t out_size(Pass p) const { return p == kForward ? g.ys() : p == kBackwardData ? g.xs() : g.ws(); }
  const std::vector<double>& want(const Naive& r, Pass p) const {
    return p == kForward ? r.y : p == kBackwardData ? r.dx : r.dw;
  }
  // The algorithms whose workspace query succeeds, with their sizes.
  std::vector<std::pair<int, size_t>> algos(cudnnHandle_t h, Pass p) const {
    std::vector<std::pair<int, size_t>> out;
    for (int a = 0; a < kAlgoCounts[p]; ++a) {
      size_t bytes = 0;
      const cudnnStatus_t s = workspace(h, p, a, &bytes);
      if (s == CUDNN_STATUS_SUCCESS) {
        out.emplace_back(a, bytes);
      } else {
        EXPECT_EQ(s, CUDNN_STATUS_NOT_SUPPORTED) << kPassNames[p] << " algo " << a;
      }
    }
    return out;
  }
};

template <class T>
void check_every_algorithm(cudnnHandle_t h) {
  const double tol = sizeof(T) == 4 ? 1e-6 : 1e-12;  // one rounding of a double sum
  for (const Geometry& g : kGeometries) {
    Problem<T> pr(g);
    const Naive ref = naive(g, pr.x, pr.w, pr.dy);
    for (const Pass p : {kForward, kBackwardData, kBackwardFilter}) {
      const auto algos = pr.algos(h, p);
      EXPECT_GE(algos.size(), 3u) << kPassNames[p];
      for (const auto& [algo, bytes] : algos) {
        const std::string what = std::string(kPassNames[p]) + " algo " + std::to_string(algo) + ", geometry " +
                                 std::to_string(&g - kGeometries) + (sizeof(T) == 4 ? ", f32" : ", f64");
        Dev<char> ws(bytes);
        // alpha 1, beta 0 over NaN: every element written, none read.
        Dev<T> out(std::vector<T>(pr.out_size(p), std::numeric_limits<T>::quiet_NaN()));
        ASSERT_EQ(pr.run(h, p, algo, T(1), T(0), out.get(), ws.get(), bytes), CUDNN_STATUS_SUCCESS)
            << what << ": " << last_error();
        expect_close(out.host(), pr.want(ref, p), 1.0, 0.0, std::vector<T>(), tol, what);
        // alpha 0.5, beta -2: out = 0.5 conv + (-2) out.
        const std::vector<T> before = values<T>(pr.out_size(p), 5.5);
        out.set(before);
        ASSERT_EQ(pr.run(h, p, algo, T(0.5), T(-2), out.get(), ws.get(), bytes), CUDNN_STATUS_SUCCESS) << what;
        expect_close(out.host(), pr.want(ref, p), 0.5, -2.0, before, tol, what + " (alpha, beta)");
      }
    }
  }
}

TEST_F(EmuCudnn, EveryAlgorithmMatchesTheDirectLoopF32) {
  check_every_algorithm<float>(handle_);
}

TEST_F(EmuCudnn, EveryAlgorithmMatchesTheDirectLoopF64) {
  check_every_algorithm<double>(handle_);
}

// TF32 math rounds the multiplied operands to TF32 (so results match the rounded-input loop and
// miss the exact one); FMA and default math are full f32.
TEST_F(EmuCudnn, TensorOpMathRoundsF32OperandsToTf32) {
  const Geometry& g = kGeometries[0];
  for (const cudnnMathType_t math : {CUDNN_TENSOR_OP_MATH, CUDNN_FMA_MATH}) {
    Problem<float> pr(g, math);
    const bool rounded = math == CUDNN_TENSOR_OP_MATH;
    const Naive ref = naive(g, pr.x, pr.w, pr.dy, rounded), other = naive(g, pr.x, pr.w, pr.dy, !rounded);
    for (const Pass p : {kForward, kBackwardData, kBackwardFilter}) {
      for (const auto& [algo, bytes] : pr.algos(handle_, p)) {
        Dev<char> ws(bytes);
        Dev<float> out(pr.out_size(p));
        ASSERT_EQ(pr.run(handle_, p, algo, 1.0f, 0.0f, out.get(), ws.get(), bytes), CUDNN_STATUS_SUCCESS);
        const std::vector<float> got = out.host();
        const std::string what = std::string(kPassNames[p]) + " algo " + std::to_string(algo);
        expect_close(got, pr.want(ref, p), 1.0, 0.0, std::vector<float>(), 1e-6, what);
        double worst = 0.0;  // and the other rounding is measurably different
        for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - pr.want(other, p)[i]));
        EXPECT_GT(worst, 1e-4) << what;
      }
    }
  }
}

TEST_F(EmuCudnn, WorkspaceSizesAndChecks) {
  Problem<float> pr(kGeometries[0]);
  for (const Pass p : {kForward, kBackwardData, kBackwardFilter}) {
    const auto algos = pr.algos(handle_, p);
    std::set<size_t> sizes;
    for (const auto& a : algos) sizes.insert(a.second);
    EXPECT_EQ(sizes.size(), algos.size()) << kPassNames[p] << ": the emulated algorithms differ in workspace";
    EXPECT_EQ(*sizes.begin(), 0u) << kPassNames[p] << ": one algorithm needs no workspace";
    for (const auto& [algo, bytes] : algos) {
      if (bytes == 0) continue;
      const std::string what = std::string(kPassNames[p]) + " algo " + std::to_string(algo);
      Dev<float> out(pr.out_size(p));
      // A size below the need: BAD_PARAM, explained.
      Dev<char> ws(bytes);
      EXPECT_EQ(pr.run(handle_, p, algo, 1.0f, 0.0f, out.get(), ws.get(), bytes - 1), CUDNN_STATUS_BAD_PARAM) << what;
      EXPECT_NE(last_error().find("workSpaceSizeInBytes"), std::string::npos) << last_error();
      // The whole claimed workspace is written (an undersized buffer would overflow).
      std::memset(ws.get(), 0xa5, bytes);
      ASSERT_EQ(pr.run(handle_, p, algo, 1.0f, 0.0f, out.get(), ws.get(), bytes), CUDNN_STATUS_SUCCESS) << what;
      const std::vector<char> after = ws.host();
      size_t untouched = 0;
      for (size_t i = 0; i + 8 <= bytes; i += 8) {
        untouched += std::all_of(after.begin() + i, after.begin() + i + 8, [](char c) { return c == char(0xa5); });
      }
      EXPECT_EQ(untouched, 0u) << what << ": words of the workspace never written";
      // A buffer smaller than the size claimed for it, or host memory: a device fault.
      Dev<char> small(bytes - 8);
      EXPECT_EQ(pr.run(handle_, p, algo, 1.0f, 0.0f, out.get(), small.get(), bytes), CUDNN_STATUS_EXECUTION_FAILED);
      const std::string report = emu::take_fault();
      EXPECT_NE(report.find("workSpace"), std::string::npos) << report;
      std::vector<double> host(bytes / 8 + 1);
      EXPECT_EQ(pr.run(handle_, p, algo, 1.0f, 0.0f, out.get(), host.data(), bytes), CUDNN_STATUS_EXECUTION_FAILED);
      EXPECT_NE(emu::take_fault().find("workSpace"), std::string::npos);
    }
    // Algorithm numbers that are not emulated: NOT_SUPPORTED from the query and the call.
    size_t bytes = 0;
    EXPECT_EQ(pr.workspace(handle_, p, kAlgoCounts[p], &bytes), CUDNN_STATUS_NOT_SUPPORTED);
    Dev<float> out(pr.out_size(p));
    EXPECT_EQ(pr.run(handle_, p, kAlgoCounts[p] - 1, 1.0f, 0.0f, out.get(), nullptr, 0), CUDNN_STATUS_NOT_SUPPORTED);
  }
  size_t bytes = 0;
  EXPECT_EQ(cudnnGetConvolutionForwardWorkspaceSize(handle_, pr.xd.d, pr.wd.d, pr.cd.d, pr.yd.d,
                                                    CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD, &bytes),
            CUDNN_STATUS_NOT_SUPPORTED);
}

TEST_F(EmuCudnn, FindReportsEveryAlgorithmAndRunsThem) {
  const Geometry& g = kGeometries[1];
  Problem<float> pr(g, CUDNN_FMA_MATH);
  const Naive ref = naive(g, pr.x, pr.w, pr.dy);
  int count = 0;
  ASSERT_EQ(cudnnGetConvolutionForwardAlgorithmMaxCount(handle_, &count), CUDNN_STATUS_SUCCESS);
  EXPECT_GE(count, 3);
  size_t most = 0, least_nonzero = SIZE_MAX;
  for (const auto& a : pr.algos(handle_, kForward)) {
    most = std::max(most, a.second);
    if (a.second > 0) least_nonzero = std::min(least_nonzero, a.second);
  }
  Dev<char> ws(most);
  Dev<float> y(std::vector<float>(g.ys(), std::numeric_limits<float>::quiet_NaN()));
  std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<size_t>(count));
  int returned = 0;
  ASSERT_EQ(cudnnFindConvolutionForwardAlgorithmEx(handle_, pr.xd.d, pr.dx_in.get(), pr.wd.d, pr.dw_in.get(), pr.cd.d,
                                                   pr.yd.d, y.get(), count, &returned, perf.data(), ws.get(), most),
            CUDNN_STATUS_SUCCESS);
  ASSERT_GE(returned, 3);
  std::set<size_t> sizes;
  for (int i = 0; i < returned; ++i) {
    EXPECT_EQ(perf[i].status, CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(perf[i].mathType, CUDNN_FMA_MATH);
    EXPECT_EQ(perf[i].determinism, CUDNN_DETERMINISTIC);
    if (i > 0) {
      EXPECT_LE(perf[i - 1].time, perf[i].time);
    }
    size_t need = 0;
    ASSERT_EQ(pr.workspace(handle_, kForward, perf[i].algo, &need), CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(perf[i].memory, need);
    sizes.insert(need);
  }
  EXPECT_EQ(sizes.size(), static_cast<size_t>(returned));
  EXPECT_GT(perf[0].memory, 0u) << "the fastest deterministic algorithm uses a workspace";
  expect_close(y.host(), ref.y, 1.0, 0.0, std::vector<float>(), 1e-6, "Find's output");
  // The smallest workspace: what needs more is reported, not run, and sorted last.
  ASSERT_EQ(
      cudnnFindConvolutionForwardAlgorithmEx(handle_, pr.xd.d, pr.dx_in.get(), pr.wd.d, pr.dw_in.get(), pr.cd.d,
                                             pr.yd.d, y.get(), count, &returned, perf.data(), ws.get(), least_nonzero),
      CUDNN_STATUS_SUCCESS);
  int failed = 0;
  for (int i = 0; i < returned; ++i) {
    const bool fits = perf[i].memory <= least_nonzero;
    EXPECT_EQ(perf[i].status == CUDNN_STATUS_SUCCESS, fits) << "algo " << perf[i].algo;
    if (!fits) ++failed;
    if (i > 0 && perf[i - 1].status != CUDNN_STATUS_SUCCESS) {
      EXPECT_NE(perf[i].status, CUDNN_STATUS_SUCCESS) << "a failure sorted before a success";
    }
  }
  EXPECT_GE(failed, 1);
  // requestedAlgoCount limits the answer.
  ASSERT_EQ(cudnnFindConvolutionForwardAlgorithmEx(handle_, pr.xd.d, pr.dx_in.get(), pr.wd.d, pr.dw_in.get(), pr.cd.d,
                                                   pr.yd.d, y.get(), 1, &returned, perf.data(), nullptr, 0),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(returned, 1);
  EXPECT_EQ(perf[0].memory, 0u);  // no workspace: only the direct algorithm could run

  // Backward passes: cuDNN's non-deterministic algorithms are marked, a deterministic one with a
  // workspace succeeds, and the output is written.
  Dev<float> dx(std::vector<float>(g.xs(), std::numeric_limits<float>::quiet_NaN()));
  Dev<float> dw(std::vector<float>(g.ws(), std::numeric_limits<float>::quiet_NaN()));
  Dev<char> big(1 << 22);
  std::vector<cudnnConvolutionBwdDataAlgoPerf_t> pd(8);
  ASSERT_EQ(
      cudnnFindConvolutionBackwardDataAlgorithmEx(handle_, pr.wd.d, pr.dw_in.get(), pr.yd.d, pr.ddy.get(), pr.cd.d,
                                                  pr.xd.d, dx.get(), 8, &returned, pd.data(), big.get(), 1 << 22),
      CUDNN_STATUS_SUCCESS);
  bool det_with_ws = false;
  for (int i = 0; i < returned; ++i) {
    EXPECT_EQ(pd[i].determinism == CUDNN_NON_DETERMINISTIC, pd[i].algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_0);
    det_with_ws |= pd[i].determinism == CUDNN_DETERMINISTIC && pd[i].memory > 0;
  }
  EXPECT_TRUE(det_with_ws);
  expect_close(dx.host(), ref.dx, 1.0, 0.0, std::vector<float>(), 1e-6, "FindBackwardData's output");
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> pf(8);
  ASSERT_EQ(
      cudnnFindConvolutionBackwardFilterAlgorithmEx(handle_, pr.xd.d, pr.dx_in.get(), pr.yd.d, pr.ddy.get(), pr.cd.d,
                                                    pr.wd.d, dw.get(), 8, &returned, pf.data(), big.get(), 1 << 22),
      CUDNN_STATUS_SUCCESS);
  ASSERT_GE(returned, 3);
  det_with_ws = false;
  for (int i = 0; i < returned; ++i) {
    const bool nondet =
        pf[i].algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 || pf[i].algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3;
    EXPECT_EQ(pf[i].determinism == CUDNN_NON_DETERMINISTIC, nondet);
    det_with_ws |= pf[i].determinism == CUDNN_DETERMINISTIC && pf[i].memory > 0;
  }
  EXPECT_TRUE(det_with_ws);
  expect_close(dw.host(), ref.dw, 1.0, 0.0, std::vector<float>(), 1e-6, "FindBackwardFilter's output");
}

TEST_F(EmuCudnn, OutputDimFollowsTheFormula) {
  struct Case {
    int h, w, kh, kw, ph, pw, sh, sw, dh, dw;
  };
  for (const Case& c : {Case{28, 28, 3, 3, 1, 1, 1, 1, 1, 1}, Case{11, 8, 3, 2, 1, 2, 2, 1, 2, 1},
                        Case{7, 9, 5, 1, 0, 0, 3, 2, 1, 1}, Case{10, 10, 3, 3, 0, 0, 1, 1, 4, 4}}) {
    Tensor4d x(CUDNN_DATA_FLOAT, 2, 3, c.h, c.w);
    Filter4d f(CUDNN_DATA_FLOAT, 6, 3, c.kh, c.kw);
    Conv2d conv(c.ph, c.pw, c.sh, c.sw, c.dh, c.dw, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT);
    int n, ch, h, w;
    ASSERT_EQ(cudnnGetConvolution2dForwardOutputDim(conv.d, x.d, f.d, &n, &ch, &h, &w), CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(n, 2);
    EXPECT_EQ(ch, 6);
    EXPECT_EQ(h, 1 + (c.h + 2 * c.ph - ((c.kh - 1) * c.dh + 1)) / c.sh);
    EXPECT_EQ(w, 1 + (c.w + 2 * c.pw - ((c.kw - 1) * c.dw + 1)) / c.sw);
  }
  Tensor4d x(CUDNN_DATA_FLOAT, 2, 3, 5, 5);
  Filter4d f4(CUDNN_DATA_FLOAT, 6, 4, 3, 3), big(CUDNN_DATA_FLOAT, 6, 3, 4, 4);
  Conv2d conv(0, 0, 1, 1, 2, 2, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT);
  int n, c, h, w;
  EXPECT_EQ(cudnnGetConvolution2dForwardOutputDim(conv.d, x.d, f4.d, &n, &c, &h, &w), CUDNN_STATUS_BAD_PARAM);
  EXPECT_NE(last_error().find("channels"), std::string::npos) << last_error();
  // A 4 x 4 filter dilated by 2 spans 7 > 5: no output (C's division would say 1).
  EXPECT_EQ(cudnnGetConvolution2dForwardOutputDim(conv.d, x.d, big.d, &n, &c, &h, &w), CUDNN_STATUS_BAD_PARAM);
}

TEST_F(EmuCudnn, DescriptorErrors) {
  EXPECT_EQ(Tensor4d(CUDNN_DATA_FLOAT, 0, 3, 4, 4).status, CUDNN_STATUS_BAD_PARAM);
  EXPECT_NE(last_error().find("(0, 3, 4, 4)"), std::string::npos) << last_error();
  EXPECT_EQ(Tensor4d(CUDNN_DATA_FLOAT, 1, 3, 4, -2).status, CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(Tensor4d(CUDNN_DATA_FLOAT, 1, 3, 4, 4, CUDNN_TENSOR_NHWC).status, CUDNN_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(Tensor4d(CUDNN_DATA_DOUBLE, 1, 3, 4, 4).status, CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(Filter4d(CUDNN_DATA_FLOAT, 2, 0, 3, 3).status, CUDNN_STATUS_BAD_PARAM);
  const auto conv = [](int ph, int sh, int dh, cudnnConvolutionMode_t mode,
                       cudnnDataType_t compute = CUDNN_DATA_FLOAT) {
    return Conv2d(ph, 0, sh, 1, dh, 1, mode, compute).status;
  };
  EXPECT_EQ(conv(0, 1, 1, CUDNN_CROSS_CORRELATION), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(conv(-1, 1, 1, CUDNN_CROSS_CORRELATION), CUDNN_STATUS_BAD_PARAM);
  EXPECT_NE(last_error().find("padding"), std::string::npos) << last_error();
  EXPECT_EQ(conv(0, 0, 1, CUDNN_CROSS_CORRELATION), CUDNN_STATUS_BAD_PARAM);
  EXPECT_NE(last_error().find("stride"), std::string::npos) << last_error();
  EXPECT_EQ(conv(0, 1, 0, CUDNN_CONVOLUTION), CUDNN_STATUS_BAD_PARAM);
  EXPECT_NE(last_error().find("dilation"), std::string::npos) << last_error();
  EXPECT_EQ(conv(0, 1, 1, CUDNN_CONVOLUTION, static_cast<cudnnDataType_t>(25)), CUDNN_STATUS_BAD_PARAM);  // no type 25
  EXPECT_NE(last_error().find("computeType"), std::string::npos) << last_error();
  Conv2d c(0, 0, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT, CUDNN_TENSOR_OP_MATH);
  cudnnMathType_t math;
  ASSERT_EQ(cudnnGetConvolutionMathType(c.d, &math), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(math, CUDNN_TENSOR_OP_MATH);
  // Mismatched data types and a wrong output shape in a convolution call.
  Tensor4d x(CUDNN_DATA_FLOAT, 1, 2, 4, 4), xd(CUDNN_DATA_DOUBLE, 1, 2, 4, 4), y(CUDNN_DATA_FLOAT, 1, 3, 4, 4),
      y_bad(CUDNN_DATA_FLOAT, 1, 3, 3, 4);
  Filter4d w(CUDNN_DATA_FLOAT, 3, 2, 1, 1);
  size_t bytes;
  EXPECT_EQ(cudnnGetConvolutionForwardWorkspaceSize(handle_, x.d, w.d, c.d, y.d,
                                                    CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, &bytes),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(cudnnGetConvolutionForwardWorkspaceSize(handle_, xd.d, w.d, c.d, y.d,
                                                    CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, &bytes),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(cudnnGetConvolutionForwardWorkspaceSize(handle_, x.d, w.d, c.d, y_bad.d,
                                                    CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, &bytes),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_NE(last_error().find("yDesc"), std::string::npos) << last_error();
  EXPECT_EQ(cudnnGetConvolutionForwardWorkspaceSize(nullptr, x.d, w.d, c.d, y.d,
                                                    CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, &bytes),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_STREQ(cudnnGetErrorString(CUDNN_STATUS_BAD_PARAM), "CUDNN_STATUS_BAD_PARAM");
  EXPECT_STREQ(cudnnGetErrorString(CUDNN_STATUS_NOT_SUPPORTED), "CUDNN_STATUS_NOT_SUPPORTED");
  char tiny[4];
  cudnnGetLastErrorString(tiny, sizeof(tiny));  // truncated, terminated
  EXPECT_EQ(std::strlen(tiny), 3u);
}

TEST_F(EmuCudnn, HostDataOperandRaisesAFault) {
  Problem<float> pr(kGeometries[0]);
  std::vector<float> host_y(pr.g.ys());
  const float one = 1.0f, zero = 0.0f;
  EXPECT_EQ(
      cudnnConvolutionForward(handle_, &one, pr.xd.d, pr.dx_in.get(), pr.wd.d, pr.dw_in.get(), pr.cd.d,
                              CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, nullptr, 0, &zero, pr.yd.d, host_y.data()),
      CUDNN_STATUS_EXECUTION_FAILED);
  const std::string report = emu::take_fault();
  EXPECT_NE(report.find("cudnnConvolutionForward"), std::string::npos) << report;
  EXPECT_NE(report.find("operand y"), std::string::npos) << report;
  cudaStream_t s = reinterpret_cast<cudaStream_t>(0x42), got = nullptr;
  ASSERT_EQ(cudnnSetStream(handle_, s), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnGetStream(handle_, &got), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(got, s);
}

TEST_F(EmuCudnn, AddTensorBroadcasts) {
  const int n = 2, c = 3, h = 2, w = 4;
  const std::vector<double> old = values<double>(n * c * h * w, 0.4);
  Dev<double> dc(old);
  // A bias (1, C, 1, 1): C = 2 bias + 0.5 C.
  const std::vector<double> bias = {1.0, -2.0, 3.5};
  Dev<double> db(bias);
  Tensor4d bd(CUDNN_DATA_DOUBLE, 1, c, 1, 1), cd(CUDNN_DATA_DOUBLE, n, c, h, w);
  const double two = 2.0, half = 0.5, zero = 0.0;
  ASSERT_EQ(cudnnAddTensor(handle_, &two, bd.d, db.get(), &half, cd.d, dc.get()), CUDNN_STATUS_SUCCESS);
  std::vector<double> got = dc.host();
  for (int i = 0; i < n * c * h * w; ++i) EXPECT_DOUBLE_EQ(got[i], 2 * bias[(i / (h * w)) % c] + 0.5 * old[i]) << i;
  // A (1, 1, H, W) over NaN with beta 0.
  const std::vector<double> plane = values<double>(h * w, 1.9);
  Dev<double> dp(plane);
  dc.set(std::vector<double>(old.size(), std::numeric_limits<double>::quiet_NaN()));
  Tensor4d pd(CUDNN_DATA_DOUBLE, 1, 1, h, w);
  ASSERT_EQ(cudnnAddTensor(handle_, &two, pd.d, dp.get(), &zero, cd.d, dc.get()), CUDNN_STATUS_SUCCESS);
  got = dc.host();
  for (int i = 0; i < n * c * h * w; ++i) EXPECT_DOUBLE_EQ(got[i], 2 * plane[i % (h * w)]) << i;
  // A dimension neither 1 nor C's, or another type: BAD_PARAM.
  Tensor4d bad(CUDNN_DATA_DOUBLE, 1, 2, 1, 1), badf(CUDNN_DATA_FLOAT, 1, c, 1, 1);
  EXPECT_EQ(cudnnAddTensor(handle_, &two, bad.d, db.get(), &half, cd.d, dc.get()), CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(cudnnAddTensor(handle_, &two, badf.d, db.get(), &half, cd.d, dc.get()), CUDNN_STATUS_BAD_PARAM);
}

// Batch norm, spatial: the direct formulas per channel in double.
struct BnRef {
  std::vector<double> y, mean, invstd, run_mean, run_var, dx, dscale, dbias;
};
template <class T>
BnRef bn_reference(int n, int c, int s, const std::vector<T>& x, const std::vector<T>& g, const std::vector<T>& b,
                   const std::vector<T>& dy, double eps, double factor, const std::vector<T>& rm,
                   const std::vector<T>& rv) {
  BnRef r;
  const double m = static_cast<double>(n) * s;
  r.y.resize(x.size());
  r.dx.resize(x.size());
  for (int ch = 0; ch < c; ++ch) {
    std::vector<double> v;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < s; ++j) v.push_back(x[(static_cast<size_t>(i) * c + ch) * s + j]);
    double mean = 0, var = 0;
    for (double e : v) mean += e / m;
    for (double e : v) var += (e - mean) * (e - mean) / m;
    const double is = 1 / std::sqrt(var + eps);
    r.mean.push_back(mean);
    r.invstd.push_back(is);
    r.run_mean.push_back(factor * mean + (1 - factor) * rm[ch]);
    r.run_var.push_back(factor * var * m / (m - 1) + (1 - factor) * rv[ch]);
    double sdy = 0, sdyx = 0;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < s; ++j) {
        const size_t e = (static_cast<size_t>(i) * c + ch) * s + j;
        r.y[e] = g[ch] * (x[e] - mean) * is + b[ch];
        sdy += dy[e];
        sdyx += dy[e] * (x[e] - mean) * is;
      }
    r.dscale.push_back(sdyx);
    r.dbias.push_back(sdy);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < s; ++j) {
        const size_t e = (static_cast<size_t>(i) * c + ch) * s + j;
        r.dx[e] = g[ch] * is * (dy[e] - sdy / m - (x[e] - mean) * is * sdyx / m);
      }
  }
  return r;
}

template <class T>
void check_batch_norm(cudnnHandle_t h) {
  const int n = 4, c = 3, hh = 5, ww = 2, s = hh * ww;
  const double eps = 1e-3, factor = 0.25, tol = sizeof(T) == 4 ? 2e-6 : 1e-12;
  const size_t all = static_cast<size_t>(n) * c * s;
  const std::vector<T> x = values<T>(all, 0.2), dy = values<T>(all, 3.3);
  const std::vector<T> g = {T(1.5), T(-0.5), T(0.75)}, b = {T(0.1), T(0.2), T(-0.3)};
  const std::vector<T> rm = {T(0.5), T(-1), T(2)}, rv = {T(1), T(2), T(0.5)};
  const BnRef ref = bn_reference(n, c, s, x, g, b, dy, eps, factor, rm, rv);
  Tensor4d xd(dtype<T>(), n, c, hh, ww), pd(dtype<T>(), 1, c, 1, 1);
  Dev<T> dx_(x), ddy(dy), dg(g), dbias(b), drm(rm), drv(rv), dmean(c), dinv(c), dout(all);
  const std::vector<T> y_old = values<T>(all, 7.1);
  dout.set(y_old);
  const T one = 1, half = T(0.5), zero = 0;
  // y = 1 * BN(x) + 0.5 * y_old.
  ASSERT_EQ(cudnnBatchNormalizationForwardTraining(h, CUDNN_BATCHNORM_SPATIAL, &one, &half, xd.d, dx_.get(), xd.d,
                                                   dout.get(), pd.d, dg.get(), dbias.get(), factor, drm.get(),
                                                   drv.get(), eps, dmean.get(), dinv.get()),
            CUDNN_STATUS_SUCCESS)
      << last_error();
  expect_close(dout.host(), ref.y, 1.0, 0.5, y_old, tol, "y");
  expect_close(dmean.host(), ref.mean, 1.0, 0.0, std::vector<T>(), tol, "saved mean");
  expect_close(dinv.host(), ref.invstd, 1.0, 0.0, std::vector<T>(), tol, "saved invstd");
  expect_close(drm.host(), ref.run_mean, 1.0, 0.0, std::vector<T>(), tol, "running mean");
  expect_close(drv.host(), ref.run_var, 1.0, 0.0, std::vector<T>(), tol, "running var (unbiased)");
  // Backward, from the saved statistics and recomputed ones: dx = 1 * dx, dscale = dscale + old.
  for (const bool saved : {true, false}) {
    const std::vector<T> dx_old = values<T>(all, 8.2), ds_old = {T(1), T(2), T(3)}, db_old = {T(-1), T(0), T(4)};
    Dev<T> dxo(dx_old), dso(ds_old), dbo(db_old);
    ASSERT_EQ(cudnnBatchNormalizationBackward(h, CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &one, xd.d, dx_.get(),
                                              xd.d, ddy.get(), xd.d, dxo.get(), pd.d, dg.get(), dso.get(), dbo.get(),
                                              eps, saved ? dmean.get() : nullptr, saved ? dinv.get() : nullptr),
              CUDNN_STATUS_SUCCESS)
        << last_error();
    const std::string what = saved ? " (saved statistics)" : " (recomputed)";
    expect_close(dxo.host(), ref.dx, 1.0, 0.0, dx_old, tol * 10, "dx" + what);
    expect_close(dso.host(), ref.dscale, 1.0, 1.0, ds_old, tol * 10, "dscale" + what);
    expect_close(dbo.host(), ref.dbias, 1.0, 1.0, db_old, tol * 10, "dbias" + what);
  }
  // Errors: a mode not emulated, epsilon below the minimum, half the saved pair, a wrong
  // parameter descriptor.
  const auto fwd = [&](cudnnBatchNormMode_t mode, double e, T* save_mean, const Tensor4d& p) {
    return cudnnBatchNormalizationForwardTraining(h, mode, &one, &zero, xd.d, dx_.get(), xd.d, dout.get(), p.d,
                                                  dg.get(), dbias.get(), factor, nullptr, nullptr, e, save_mean,
                                                  dinv.get());
  };
  EXPECT_EQ(fwd(CUDNN_BATCHNORM_PER_ACTIVATION, eps, dmean.get(), pd), CUDNN_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(fwd(CUDNN_BATCHNORM_SPATIAL, -1e-5, dmean.get(), pd), CUDNN_STATUS_BAD_PARAM);
  EXPECT_NE(last_error().find("epsilon"), std::string::npos) << last_error();
  EXPECT_EQ(fwd(CUDNN_BATCHNORM_SPATIAL, eps, nullptr, pd), CUDNN_STATUS_BAD_PARAM);
  Tensor4d wrong(dtype<T>(), 1, c + 1, 1, 1);
  EXPECT_EQ(fwd(CUDNN_BATCHNORM_SPATIAL, eps, dmean.get(), wrong), CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(fwd(CUDNN_BATCHNORM_SPATIAL, eps, dmean.get(), pd), CUDNN_STATUS_SUCCESS);
}

TEST_F(EmuCudnn, BatchNormMatchesTheFormulasF32) {
  check_batch_norm<float>(handle_);
}

TEST_F(EmuCudnn, BatchNormMatchesTheFormulasF64) {
  check_batch_norm<double>(handle_);
}

// The backward pass is the gradient of the forward one: central differences of
// L(x, scale, bias) = sum(dy * BN(x)) in f64.
TEST_F(EmuCudnn, BatchNormBackwardIsTheGradient) {
  const int n = 3, c = 2, hh = 2, ww = 3;
  const size_t all = static_cast<size_t>(n) * c * hh * ww;
  const double eps = 1e-4, step = 1e-6;
  std::vector<double> x = values<double>(all, 0.9), g = {1.3, -0.7}, b = {0.2, 0.4};
  const std::vector<double> dy = values<double>(all, 4.4);
  Tensor4d xd(CUDNN_DATA_DOUBLE, n, c, hh, ww), pd(CUDNN_DATA_DOUBLE, 1, c, 1, 1);
  const double one = 1, zero = 0;
  const auto loss = [&](const std::vector<double>& xv, const std::vector<double>& gv, const std::vector<double>& bv) {
    Dev<double> dxv(xv), dgv(gv), dbv(bv), y(all);
    EXPECT_EQ(cudnnBatchNormalizationForwardTraining(handle_, CUDNN_BATCHNORM_SPATIAL, &one, &zero, xd.d, dxv.get(),
                                                     xd.d, y.get(), pd.d, dgv.get(), dbv.get(), 0.1, nullptr, nullptr,
                                                     eps, nullptr, nullptr),
              CUDNN_STATUS_SUCCESS);
    double l = 0;
    const std::vector<double> yv = y.host();
    for (size_t i = 0; i < all; ++i) l += dy[i] * yv[i];
    return l;
  };
  Dev<double> dxv(x), ddy(dy), dg(g), dgx(all), dgs(c), dgb(c);
  ASSERT_EQ(cudnnBatchNormalizationBackward(handle_, CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &zero, xd.d, dxv.get(),
                                            xd.d, ddy.get(), xd.d, dgx.get(), pd.d, dg.get(), dgs.get(), dgb.get(), eps,
                                            nullptr, nullptr),
            CUDNN_STATUS_SUCCESS);
  const std::vector<double> gx = dgx.host(), gs = dgs.host(), gb = dgb.host();
  for (size_t i = 0; i < all; ++i) {
    std::vector<double> up = x, down = x;
    up[i] += step;
    down[i] -= step;
    EXPECT_NEAR(gx[i], (loss(up, g, b) - loss(down, g, b)) / (2 * step), 1e-6) << "dx " << i;
  }
  for (int ch = 0; ch < c; ++ch) {
    std::vector<double> up = g, down = g;
    up[ch] += step;
    down[ch] -= step;
    EXPECT_NEAR(gs[ch], (loss(x, up, b) - loss(x, down, b)) / (2 * step), 1e-6) << "dscale " << ch;
    up = b, down = b;
    up[ch] += step;
    down[ch] -= step;
    EXPECT_NEAR(gb[ch], (loss(x, g, up) - loss(x, g, down)) / (2 * step), 1e-6) << "dbias " << ch;
  }
}

}  // namespace
}  // namespace kdcu
