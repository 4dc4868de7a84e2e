// The emulated cuDNN convolutions (legacy API): algorithm counts, workspace sizes, Find*Ex,
// forward / backward data / backward filter, and cudnnAddTensor (the bias). Per pass three
// "algorithms" compute the same sums in different ways, with different workspaces, so that
// kdcu's search, workspace allocation and algorithm cache are all exercised:
//   direct (no workspace): loops over the sums;
//   per image: im2col (or col2im) of one image into the workspace, then one dgemm;
//   batched: the same for up to 8 images at a time and one dgemm for them, a larger workspace.
// The workspace holds doubles: every algorithm accumulates in double and rounds once to the
// output type. Each one writes the whole workspace its size query claims, so a buffer smaller
// than claimed is a heap overflow under AddressSanitizer. TF32 math (CUDNN_TENSOR_OP_MATH or
// _ALLOW_CONVERSION on f32 data) rounds both multiplied operands to TF32 first.
#include <algorithm>
#include <cblas.h>
#include <cstdint>
#include <cstring>
#include <cudnn.h>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "emu/cudnn_state.h"
#include "emu/tf32.h"

namespace kdcu {
namespace emu {
namespace {

using i64 = std::int64_t;

enum class Pass { kForward, kBackwardData, kBackwardFilter };

// One emulated algorithm: its cuDNN number, how many images one workspace pass holds (0: the
// direct loops, no workspace), its determinism as real cuDNN reports it, and a relative cost
// that orders Find's fixed emulated times.
struct Algo {
  int number;
  int chunk;
  cudnnDeterminism_t determinism;
  double cost;
};
constexpr int kBatchChunk = 8;
// Per pass the fastest deterministic algorithm is the batched one (the largest workspace): the
// one kdcu picks, with few large GEMMs. Forward: all deterministic.
constexpr Algo kForward[] = {{CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, 0, CUDNN_DETERMINISTIC, 3.0},
                             {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, 1, CUDNN_DETERMINISTIC, 1.5},
                             {CUDNN_CONVOLUTION_FWD_ALGO_GEMM, kBatchChunk, CUDNN_DETERMINISTIC, 1.0}};
// Backward data: the non-deterministic ALGO_0 is fastest, so picking the fastest deterministic
// one means skipping it.
constexpr Algo kBackwardData[] = {{CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, 0, CUDNN_NON_DETERMINISTIC, 0.8},
                                  {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, kBatchChunk, CUDNN_DETERMINISTIC, 1.0},
                                  {CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT, 1, CUDNN_DETERMINISTIC, 1.6}};
// Backward filter: ALGO_0 and ALGO_3 non-deterministic (as in cuDNN), ALGO_3 fastest.
constexpr Algo kBackwardFilter[] = {{CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, 0, CUDNN_NON_DETERMINISTIC, 2.0},
                                    {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, kBatchChunk, CUDNN_DETERMINISTIC, 1.0},
                                    {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3, 1, CUDNN_NON_DETERMINISTIC, 0.7}};

const Algo* algos(Pass p) {
  return p == Pass::kForward ? kForward : p == Pass::kBackwardData ? kBackwardData : kBackwardFilter;
}
const Algo* find_algo(Pass p, int number) {
  for (int i = 0; i < 3; ++i)
    if (algos(p)[i].number == number) return &algos(p)[i];
  return nullptr;
}

// One call's checked geometry: x (n, cin, h, w), w (cout, cin, kh, kw), y (n, cout, oh, ow).
struct Geo {
  i64 n, cin, h, w, cout, kh, kw, oh, ow, ph, pw, sh, sw, dh, dw;
  bool flip;  // CUDNN_CONVOLUTION: the filter is applied flipped
  bool tf32, f64;
  cudnnMathType_t math;
  i64 k() const { return cin * kh * kw; }
  i64 ohw() const { return oh * ow; }
  size_t elem() const { return f64 ? 8 : 4; }
};

// Workspace doubles per image, plus those shared by all images.
size_t workspace_bytes(Pass p, const Geo& g, const Algo& a) {
  if (a.chunk == 0) return 0;
  const i64 images = std::min<i64>(a.chunk, g.n);
  const i64 col = g.k() * g.ohw(), ys = g.cout * g.ohw();
  const i64 per_image = p == Pass::kBackwardData ? col + ys + g.cin * g.h * g.w : col + ys;
  const i64 shared = p == Pass::kBackwardFilter ? g.cout * g.k() : 0;
  return static_cast<size_t>(images * per_image + shared) * sizeof(double);
}

// The common checks of every convolution call: handle, descriptors, types, the output shape.
cudnnStatus_t prepare(const char* call, cudnnHandle_t handle, cudnnTensorDescriptor_t xd, cudnnFilterDescriptor_t wd,
                      cudnnConvolutionDescriptor_t cd, cudnnTensorDescriptor_t yd, const char* x_name,
                      const char* y_name, Geo* g) {
  if (auto s = cudnn_check_handle(handle, call)) return s;
  if (auto s = cudnn_check_tensor(xd, call, x_name)) return s;
  if (auto s = cudnn_check_filter(wd, call, "filter descriptor")) return s;
  if (auto s = cudnn_check_conv(cd, call, "convDesc")) return s;
  if (auto s = cudnn_check_tensor(yd, call, y_name)) return s;
  if (xd->type != wd->type || xd->type != yd->type) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, "the tensor and filter descriptors have different data types");
  }
  if (cudnn_type_size(xd->type) == 0 || cd->compute != xd->type) {
    return cudnn_fail(CUDNN_STATUS_NOT_SUPPORTED, call,
                      "only float data with float compute and double data with double compute are emulated");
  }
  if (xd->c != wd->c) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call,
                      "the input has " + std::to_string(xd->c) + " channels, the filter " + std::to_string(wd->c));
  }
  g->n = xd->n, g->cin = xd->c, g->h = xd->h, g->w = xd->w;
  g->cout = wd->k, g->kh = wd->h, g->kw = wd->w;
  g->ph = cd->pad_h, g->pw = cd->pad_w, g->sh = cd->stride_h, g->sw = cd->stride_w, g->dh = cd->dil_h,
  g->dw = cd->dil_w;
  g->flip = cd->mode == CUDNN_CONVOLUTION;
  g->f64 = xd->type == CUDNN_DATA_DOUBLE;
  g->math = cd->math;
  g->tf32 = !g->f64 && (g->math == CUDNN_TENSOR_OP_MATH || g->math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION);
  const i64 room_h = g->h + 2 * g->ph - ((g->kh - 1) * g->dh + 1);
  const i64 room_w = g->w + 2 * g->pw - ((g->kw - 1) * g->dw + 1);
  if (room_h < 0 || room_w < 0) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, "the dilated filter is larger than the padded input");
  }
  g->oh = 1 + room_h / g->sh;
  g->ow = 1 + room_w / g->sw;
  if (yd->n != g->n || yd->c != g->cout || yd->h != g->oh || yd->w != g->ow) {
    std::ostringstream os;
    os << y_name << " is (" << yd->n << ", " << yd->c << ", " << yd->h << ", " << yd->w << ") but the convolution's "
       << "output is (" << g->n << ", " << g->cout << ", " << g->oh << ", " << g->ow << ")";
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, os.str());
  }
  return CUDNN_STATUS_SUCCESS;
}

// The outputs o in [0, out) whose input index o * stride - pad + offset lies in [0, in): [*lo, *hi).
void valid_range(i64 out, i64 in, i64 stride, i64 pad, i64 offset, i64* lo, i64* hi) {
  const i64 first = pad - offset, last = in - 1 + pad - offset;
  *lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  *hi = last < 0 ? 0 : std::min(out, last / stride + 1);
  if (*lo > *hi) *lo = *hi;
}

// An operand as a double, TF32-rounded when the math says so; widen does a whole array.
template <class T>
double operand(T v, bool tf32) {
  return tf32 ? static_cast<double>(round_tf32(static_cast<float>(v))) : static_cast<double>(v);
}
template <class T>
void widen(const T* src, i64 count, bool tf32, double* dst) {
  for (i64 i = 0; i < count; ++i) dst[i] = operand(src[i], tf32);
}

// out = alpha * v + beta * out, rounded once; beta = 0 does not read out.
template <class T>
void store(T* out, const double* v, i64 count, double alpha, double beta) {
  for (i64 i = 0; i < count; ++i) {
    out[i] = static_cast<T>(beta == 0.0 ? alpha * v[i] : alpha * v[i] + beta * static_cast<double>(out[i]));
  }
}

// The loops every algorithm shares: f(row, o, off, lo, hi) for each filter tap (ci, ki, kj) and
// output row o whose input row exists, where row = (ci * kh + ki) * kw + kj is the im2col row and
// output column q in [lo, hi) reads image element off + q * sw.
template <class F>
void for_taps(const Geo& g, F&& f) {
  for (i64 ci = 0; ci < g.cin; ++ci)
    for (i64 ki = 0; ki < g.kh; ++ki) {
      i64 hlo, hhi;
      valid_range(g.oh, g.h, g.sh, g.ph, ki * g.dh, &hlo, &hhi);
      for (i64 kj = 0; kj < g.kw; ++kj) {
        i64 wlo, whi;
        valid_range(g.ow, g.w, g.sw, g.pw, kj * g.dw, &wlo, &whi);
        const i64 row = (ci * g.kh + ki) * g.kw + kj;
        for (i64 o = hlo; o < hhi; ++o) {
          f(row, o, (ci * g.h + o * g.sh - g.ph + ki * g.dh) * g.w - g.pw + kj * g.dw, wlo, whi);
        }
      }
    }
}

// im2col of one image (doubles, cin * h * w) into col (k x ohw, leading dimension ld), zeros
// where the filter is off the image; add = false. col2im (add = true) adds col into the image.
void im2col(const Geo& g, double* img, double* col, i64 ld, bool add) {
  for (i64 r = 0; !add && r < g.k(); ++r) std::fill(col + r * ld, col + r * ld + g.ohw(), 0.0);
  for_taps(g, [&](i64 row, i64 o, i64 off, i64 lo, i64 hi) {
    double* c = col + row * ld + o * g.ow;
    if (add) {
      for (i64 q = lo; q < hi; ++q) img[off + q * g.sw] += c[q];
    } else {
      for (i64 q = lo; q < hi; ++q) c[q] = img[off + q * g.sw];
    }
  });
}

// The filter as doubles in the layout the sums use: flipped for CUDNN_CONVOLUTION.
template <class T>
std::vector<double> filter(const Geo& g, const T* w) {
  std::vector<double> out(static_cast<size_t>(g.cout * g.k()));
  for (i64 i = 0; i < g.cout * g.cin; ++i)
    for (i64 ki = 0; ki < g.kh; ++ki)
      for (i64 kj = 0; kj < g.kw; ++kj) {
        const i64 src = (i * g.kh + (g.flip ? g.kh - 1 - ki : ki)) * g.kw + (g.flip ? g.kw - 1 - kj : kj);
        out[static_cast<size_t>((i * g.kh + ki) * g.kw + kj)] = operand(w[src], g.tf32);
      }
  return out;
}

// One pass with one algorithm. a and b are the pass's inputs (forward: x, w; backward data: w,
// dy; backward filter: x, dy), out its output; ws holds workspace_bytes(...) bytes.
template <class T>
void run(Pass p, const Geo& g, const Algo& algo, const T* a, const T* b, T* out, double* ws, double alpha,
         double beta) {
  const i64 xs = g.cin * g.h * g.w, ys = g.cout * g.ohw(), col = g.k() * g.ohw(), K = g.k();
  // The filter as the sums use it (backward filter computes it instead).
  const std::vector<double> wd =
      p == Pass::kBackwardFilter ? std::vector<double>() : filter(g, p == Pass::kForward ? b : a);
  std::vector<double> dwacc(p == Pass::kBackwardFilter ? static_cast<size_t>(g.cout * K) : 0);
  if (algo.chunk == 0) {  // the direct loops, with host scratch only
    std::vector<double> img(static_cast<size_t>(xs)), dyd(static_cast<size_t>(ys));
    for (i64 n = 0; n < g.n; ++n) {
      if (p != Pass::kBackwardData) widen(a + n * xs, xs, g.tf32, img.data());
      if (p != Pass::kForward) widen(b + n * ys, ys, g.tf32, dyd.data());
      if (p == Pass::kForward) std::fill(dyd.begin(), dyd.end(), 0.0);  // the output sums
      if (p == Pass::kBackwardData) std::fill(img.begin(), img.end(), 0.0);
      for (i64 co = 0; co < g.cout; ++co) {
        double* yo = dyd.data() + co * g.ohw();
        for_taps(g, [&](i64 row, i64 o, i64 off, i64 lo, i64 hi) {
          double* x = img.data();  // x[off + q * sw] for q in [lo, hi) is inside the image
          double* y = yo + o * g.ow;
          if (p == Pass::kForward) {
            const double wv = wd[static_cast<size_t>(co * K + row)];
            for (i64 q = lo; q < hi; ++q) y[q] += wv * x[off + q * g.sw];
          } else if (p == Pass::kBackwardData) {
            const double wv = wd[static_cast<size_t>(co * K + row)];
            for (i64 q = lo; q < hi; ++q) x[off + q * g.sw] += wv * y[q];
          } else {
            double s = 0.0;
            for (i64 q = lo; q < hi; ++q) s += y[q] * x[off + q * g.sw];
            dwacc[static_cast<size_t>(co * K + row)] += s;
          }
        });
      }
      if (p == Pass::kForward) store(out + n * ys, dyd.data(), ys, alpha, beta);
      if (p == Pass::kBackwardData) store(out + n * xs, img.data(), xs, alpha, beta);
    }
  } else {
    // im2col / col2im + one dgemm per `chunk` images, all in the workspace. The chunk's columns
    // sit side by side (leading dimension ld = chunk * ohw): image i's im2col is columns
    // [i * ohw, (i + 1) * ohw) of col (k x ld), its output or dy those of ys_ws (cout x ld), so one
    // product covers the chunk (few large BLAS calls: OpenBLAS's threads start once per call).
    const i64 chunk = std::min<i64>(algo.chunk, g.n), ld = chunk * g.ohw();
    double *col_ws = ws, *ys_ws = col_ws + chunk * col, *dx_ws = ys_ws + chunk * ys;
    double* shared = dx_ws;  // backward filter's dw sums (backward data's dx images instead)
    const int M = static_cast<int>(g.cout), Kk = static_cast<int>(K), L = static_cast<int>(ld);
    std::vector<double> img(p == Pass::kBackwardData ? 0 : static_cast<size_t>(xs));
    for (i64 n0 = 0; n0 < g.n; n0 += chunk) {
      const i64 count = std::min(chunk, g.n - n0);
      const int N = static_cast<int>(count * g.ohw());
      for (i64 i = 0; i < count; ++i) {  // the chunk's operands
        if (p != Pass::kBackwardData) {
          widen(a + (n0 + i) * xs, xs, g.tf32, img.data());
          im2col(g, img.data(), col_ws + i * g.ohw(), ld, false);
        }
        for (i64 co = 0; p != Pass::kForward && co < g.cout; ++co) {
          widen(b + ((n0 + i) * g.cout + co) * g.ohw(), g.ohw(), g.tf32, ys_ws + co * ld + i * g.ohw());
        }
      }
      if (p == Pass::kForward) {  // y (cout x n) = w (cout x k) col (k x n)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, Kk, 1.0, wd.data(), Kk, col_ws, L, 0.0, ys_ws, L);
        for (i64 i = 0; i < count; ++i)
          for (i64 co = 0; co < g.cout; ++co) {
            store(out + ((n0 + i) * g.cout + co) * g.ohw(), ys_ws + co * ld + i * g.ohw(), g.ohw(), alpha, beta);
          }
      } else if (p == Pass::kBackwardData) {  // col (k x n) = w^T (k x cout) dy (cout x n), then col2im
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Kk, N, M, 1.0, wd.data(), Kk, ys_ws, L, 0.0, col_ws, L);
        for (i64 i = 0; i < count; ++i) {
          double* dx = dx_ws + i * xs;
          std::fill(dx, dx + xs, 0.0);
          im2col(g, dx, col_ws + i * g.ohw(), ld, true);
          store(out + (n0 + i) * xs, dx, xs, alpha, beta);
        }
      } else {  // dw (cout x k) += dy (cout x n) col^T (n x k)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, Kk, N, 1.0, ys_ws, L, col_ws, L, n0 == 0 ? 0.0 : 1.0,
                    shared, Kk);
      }
    }
    if (p == Pass::kBackwardFilter) std::copy(shared, shared + g.cout * K, dwacc.begin());
  }
  if (p == Pass::kBackwardFilter) {  // back to the stored filter layout (unflipped)
    std::vector<double> flat(dwacc.size());
    for (i64 i = 0; i < g.cout * g.cin; ++i)
      for (i64 ki = 0; ki < g.kh; ++ki)
        for (i64 kj = 0; kj < g.kw; ++kj) {
          const i64 dst = (i * g.kh + (g.flip ? g.kh - 1 - ki : ki)) * g.kw + (g.flip ? g.kw - 1 - kj : kj);
          flat[static_cast<size_t>(dst)] = dwacc[static_cast<size_t>((i * g.kh + ki) * g.kw + kj)];
        }
    store(out, flat.data(), g.cout * K, alpha, beta);
  }
}

// A pass's operands in the order run() takes them, with names for the fault reports.
struct Operands {
  const void* a;
  const void* b;
  void* out;
  const char *a_name, *b_name, *out_name;
};

bool operands_ok(const char* call, Pass p, const Geo& g, const Operands& o) {
  const size_t xb = static_cast<size_t>(g.n * g.cin * g.h * g.w) * g.elem();
  const size_t yb = static_cast<size_t>(g.n * g.cout * g.ohw()) * g.elem();
  const size_t wb = static_cast<size_t>(g.cout * g.k()) * g.elem();
  const size_t sizes[3][3] = {{xb, wb, yb}, {wb, yb, xb}, {xb, yb, wb}};
  const size_t* s = sizes[static_cast<int>(p)];
  return cudnn_device_operand(call, o.a_name, o.a, s[0]) && cudnn_device_operand(call, o.b_name, o.b, s[1]) &&
         cudnn_device_operand(call, o.out_name, o.out, s[2]);
}

void dispatch(Pass p, const Geo& g, const Algo& algo, const Operands& o, void* ws, double alpha, double beta) {
  if (g.f64) {
    run<double>(p, g, algo, static_cast<const double*>(o.a), static_cast<const double*>(o.b),
                static_cast<double*>(o.out), static_cast<double*>(ws), alpha, beta);
  } else {
    run<float>(p, g, algo, static_cast<const float*>(o.a), static_cast<const float*>(o.b), static_cast<float*>(o.out),
               static_cast<double*>(ws), alpha, beta);
  }
}

// The names of a pass's tensor descriptors, for the error texts.
const char* x_name(Pass p) {
  return p == Pass::kBackwardData ? "dxDesc" : "xDesc";
}
const char* y_name(Pass p) {
  return p == Pass::kForward ? "yDesc" : "dyDesc";
}

// The workspace an algorithm uses: `need` bytes of device memory, aligned for the doubles it
// holds (real workspaces come from cudaMalloc, aligned far more).
cudnnStatus_t check_workspace(const char* call, void* ws, size_t need) {
  if (need == 0) return CUDNN_STATUS_SUCCESS;
  if (reinterpret_cast<std::uintptr_t>(ws) % alignof(double) != 0) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER, call, "workSpace is not 8-byte aligned");
  }
  return cudnn_device_operand(call, "workSpace", ws, need) ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_EXECUTION_FAILED;
}

cudnnStatus_t workspace_size(const char* call, Pass p, cudnnHandle_t handle, cudnnTensorDescriptor_t xd,
                             cudnnFilterDescriptor_t wd, cudnnConvolutionDescriptor_t cd, cudnnTensorDescriptor_t yd,
                             int algo, size_t* bytes) {
  Geo g;
  if (auto s = prepare(call, handle, xd, wd, cd, yd, x_name(p), y_name(p), &g)) return s;
  if (!bytes) return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, "sizeInBytes is NULL");
  const Algo* a = find_algo(p, algo);
  if (!a) return cudnn_fail(CUDNN_STATUS_NOT_SUPPORTED, call, "algorithm " + std::to_string(algo) + " is not emulated");
  *bytes = workspace_bytes(p, g, *a);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t convolve(const char* call, Pass p, cudnnHandle_t handle, const void* alpha, cudnnTensorDescriptor_t xd,
                       cudnnFilterDescriptor_t wd, cudnnConvolutionDescriptor_t cd, cudnnTensorDescriptor_t yd,
                       int algo, const Operands& o, void* ws, size_t ws_bytes, const void* beta) {
  Geo g;
  if (auto s = prepare(call, handle, xd, wd, cd, yd, x_name(p), y_name(p), &g)) return s;
  const Algo* a = find_algo(p, algo);
  if (!a) return cudnn_fail(CUDNN_STATUS_NOT_SUPPORTED, call, "algorithm " + std::to_string(algo) + " is not emulated");
  const size_t need = workspace_bytes(p, g, *a);
  if (ws_bytes < need) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call,
                      "workSpaceSizeInBytes is " + std::to_string(ws_bytes) + " but algorithm " + std::to_string(algo) +
                          " needs " + std::to_string(need));
  }
  double al = 0, be = 0;
  if (auto s = cudnn_host_scale(call, "alpha", alpha, g.f64, &al)) return s;
  if (auto s = cudnn_host_scale(call, "beta", beta, g.f64, &be)) return s;
  if (auto s = check_workspace(call, ws, need)) return s;
  if (!operands_ok(call, p, g, o)) return CUDNN_STATUS_EXECUTION_FAILED;
  dispatch(p, g, *a, o, ws, al, be);
  return CUDNN_STATUS_SUCCESS;
}

// Find*Ex: every emulated algorithm that fits the workspace is run (writing the output, as the
// real search does); results sorted by the fixed emulated time, those that did not fit last.
template <class Perf, class AlgoEnum>
cudnnStatus_t find(const char* call, Pass p, cudnnHandle_t handle, cudnnTensorDescriptor_t xd,
                   cudnnFilterDescriptor_t wd, cudnnConvolutionDescriptor_t cd, cudnnTensorDescriptor_t yd,
                   const Operands& o, int requested, int* returned, Perf* perf, void* ws, size_t ws_bytes) {
  Geo g;
  if (auto s = prepare(call, handle, xd, wd, cd, yd, x_name(p), y_name(p), &g)) return s;
  if (requested < 1 || !returned || !perf) {
    return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, "requestedAlgoCount < 1 or a NULL result pointer");
  }
  if (!operands_ok(call, p, g, o)) return CUDNN_STATUS_EXECUTION_FAILED;
  std::vector<Perf> all;
  const double macs = static_cast<double>(g.n) * static_cast<double>(g.cout * g.k()) * static_cast<double>(g.ohw());
  for (int i = 0; i < 3; ++i) {
    const Algo& a = algos(p)[i];
    Perf r{};
    r.algo = static_cast<AlgoEnum>(a.number);
    r.memory = workspace_bytes(p, g, a);
    r.determinism = a.determinism;
    r.mathType = g.math;
    if (r.memory > ws_bytes) {
      r.status = CUDNN_STATUS_ALLOC_FAILED;  // as cuDNN reports an algorithm the workspace cannot hold
      r.time = -1.0f;
    } else {
      if (auto s = check_workspace(call, ws, r.memory)) return s;
      dispatch(p, g, a, o, ws, 1.0, 0.0);
      r.status = CUDNN_STATUS_SUCCESS;
      r.time = static_cast<float>(1e-6 + macs * a.cost * 1e-9);  // "milliseconds" at 1 GMAC per ms
    }
    all.push_back(r);
  }
  std::stable_sort(all.begin(), all.end(), [](const Perf& l, const Perf& r) {
    if ((l.status == CUDNN_STATUS_SUCCESS) != (r.status == CUDNN_STATUS_SUCCESS))
      return l.status == CUDNN_STATUS_SUCCESS;
    return l.time < r.time;
  });
  *returned = std::min(requested, static_cast<int>(all.size()));
  std::copy(all.begin(), all.begin() + *returned, perf);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t max_count(const char* call, cudnnHandle_t handle, int* count, int value) {
  if (auto s = cudnn_check_handle(handle, call)) return s;
  if (!count) return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, "count is NULL");
  *count = value;
  return CUDNN_STATUS_SUCCESS;
}

}  // namespace
}  // namespace emu
}  // namespace kdcu

using kdcu::emu::Operands;
using kdcu::emu::Pass;

cudnnStatus_t cudnnGetConvolutionForwardAlgorithmMaxCount(cudnnHandle_t handle, int* count) {
  return kdcu::emu::max_count("cudnnGetConvolutionForwardAlgorithmMaxCount", handle, count,
                              CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
}

cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithmMaxCount(cudnnHandle_t handle, int* count) {
  return kdcu::emu::max_count("cudnnGetConvolutionBackwardDataAlgorithmMaxCount", handle, count,
                              CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT);
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(cudnnHandle_t handle, int* count) {
  return kdcu::emu::max_count("cudnnGetConvolutionBackwardFilterAlgorithmMaxCount", handle, count,
                              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT);
}

cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc,
                                                      const cudnnFilterDescriptor_t wDesc,
                                                      const cudnnConvolutionDescriptor_t convDesc,
                                                      const cudnnTensorDescriptor_t yDesc,
                                                      cudnnConvolutionFwdAlgo_t algo, size_t* sizeInBytes) {
  return kdcu::emu::workspace_size("cudnnGetConvolutionForwardWorkspaceSize", Pass::kForward, handle, xDesc, wDesc,
                                   convDesc, yDesc, algo, sizeInBytes);
}

cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t handle, const cudnnFilterDescriptor_t wDesc,
                                                           const cudnnTensorDescriptor_t dyDesc,
                                                           const cudnnConvolutionDescriptor_t convDesc,
                                                           const cudnnTensorDescriptor_t dxDesc,
                                                           cudnnConvolutionBwdDataAlgo_t algo, size_t* sizeInBytes) {
  return kdcu::emu::workspace_size("cudnnGetConvolutionBackwardDataWorkspaceSize", Pass::kBackwardData, handle, dxDesc,
                                   wDesc, convDesc, dyDesc, algo, sizeInBytes);
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc,
                                                             const cudnnTensorDescriptor_t dyDesc,
                                                             const cudnnConvolutionDescriptor_t convDesc,
                                                             const cudnnFilterDescriptor_t gradDesc,
                                                             cudnnConvolutionBwdFilterAlgo_t algo,
                                                             size_t* sizeInBytes) {
  return kdcu::emu::workspace_size("cudnnGetConvolutionBackwardFilterWorkspaceSize", Pass::kBackwardFilter, handle,
                                   xDesc, gradDesc, convDesc, dyDesc, algo, sizeInBytes);
}

cudnnStatus_t cudnnFindConvolutionForwardAlgorithmEx(cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc,
                                                     const void* x, const cudnnFilterDescriptor_t wDesc, const void* w,
                                                     const cudnnConvolutionDescriptor_t convDesc,
                                                     const cudnnTensorDescriptor_t yDesc, void* y,
                                                     const int requestedAlgoCount, int* returnedAlgoCount,
                                                     cudnnConvolutionFwdAlgoPerf_t* perfResults, void* workSpace,
                                                     size_t workSpaceSizeInBytes) {
  return kdcu::emu::find<cudnnConvolutionFwdAlgoPerf_t, cudnnConvolutionFwdAlgo_t>(
      "cudnnFindConvolutionForwardAlgorithmEx", Pass::kForward, handle, xDesc, wDesc, convDesc, yDesc,
      Operands{x, w, y, "x", "w", "y"}, requestedAlgoCount, returnedAlgoCount, perfResults, workSpace,
      workSpaceSizeInBytes);
}

cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithmEx(cudnnHandle_t handle, const cudnnFilterDescriptor_t wDesc,
                                                          const void* w, const cudnnTensorDescriptor_t dyDesc,
                                                          const void* dy, const cudnnConvolutionDescriptor_t convDesc,
                                                          const cudnnTensorDescriptor_t dxDesc, void* dx,
                                                          const int requestedAlgoCount, int* returnedAlgoCount,
                                                          cudnnConvolutionBwdDataAlgoPerf_t* perfResults,
                                                          void* workSpace, size_t workSpaceSizeInBytes) {
  return kdcu::emu::find<cudnnConvolutionBwdDataAlgoPerf_t, cudnnConvolutionBwdDataAlgo_t>(
      "cudnnFindConvolutionBackwardDataAlgorithmEx", Pass::kBackwardData, handle, dxDesc, wDesc, convDesc, dyDesc,
      Operands{w, dy, dx, "w", "dy", "dx"}, requestedAlgoCount, returnedAlgoCount, perfResults, workSpace,
      workSpaceSizeInBytes);
}

cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithmEx(cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc,
                                                            const void* x, const cudnnTensorDescriptor_t dyDesc,
                                                            const void* y, const cudnnConvolutionDescriptor_t convDesc,
                                                            const cudnnFilterDescriptor_t dwDesc, void* dw,
                                                            const int requestedAlgoCount, int* returnedAlgoCount,
                                                            cudnnConvolutionBwdFilterAlgoPerf_t* perfResults,
                                                            void* workSpace, size_t workSpaceSizeInBytes) {
  return kdcu::emu::find<cudnnConvolutionBwdFilterAlgoPerf_t, cudnnConvolutionBwdFilterAlgo_t>(
      "cudnnFindConvolutionBackwardFilterAlgorithmEx", Pass::kBackwardFilter, handle, xDesc, dwDesc, convDesc, dyDesc,
      Operands{x, y, dw, "x", "dy", "dw"}, requestedAlgoCount, returnedAlgoCount, perfResults, workSpace,
      workSpaceSizeInBytes);
}

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t handle, const void* alpha, const cudnnTensorDescriptor_t xDesc,
                                      const void* x, const cudnnFilterDescriptor_t wDesc, const void* w,
                                      const cudnnConvolutionDescriptor_t convDesc, cudnnConvolutionFwdAlgo_t algo,
                                      void* workSpace, size_t workSpaceSizeInBytes, const void* beta,
                                      const cudnnTensorDescriptor_t yDesc, void* y) {
  return kdcu::emu::convolve("cudnnConvolutionForward", Pass::kForward, handle, alpha, xDesc, wDesc, convDesc, yDesc,
                             algo, Operands{x, w, y, "x", "w", "y"}, workSpace, workSpaceSizeInBytes, beta);
}

cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t handle, const void* alpha, const cudnnFilterDescriptor_t wDesc,
                                           const void* w, const cudnnTensorDescriptor_t dyDesc, const void* dy,
                                           const cudnnConvolutionDescriptor_t convDesc,
                                           cudnnConvolutionBwdDataAlgo_t algo, void* workSpace,
                                           size_t workSpaceSizeInBytes, const void* beta,
                                           const cudnnTensorDescriptor_t dxDesc, void* dx) {
  return kdcu::emu::convolve("cudnnConvolutionBackwardData", Pass::kBackwardData, handle, alpha, dxDesc, wDesc,
                             convDesc, dyDesc, algo, Operands{w, dy, dx, "w", "dy", "dx"}, workSpace,
                             workSpaceSizeInBytes, beta);
}

cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t handle, const void* alpha,
                                             const cudnnTensorDescriptor_t xDesc, const void* x,
                                             const cudnnTensorDescriptor_t dyDesc, const void* dy,
                                             const cudnnConvolutionDescriptor_t convDesc,
                                             cudnnConvolutionBwdFilterAlgo_t algo, void* workSpace,
                                             size_t workSpaceSizeInBytes, const void* beta,
                                             const cudnnFilterDescriptor_t dwDesc, void* dw) {
  return kdcu::emu::convolve("cudnnConvolutionBackwardFilter", Pass::kBackwardFilter, handle, alpha, xDesc, dwDesc,
                             convDesc, dyDesc, algo, Operands{x, dy, dw, "x", "dy", "dw"}, workSpace,
                             workSpaceSizeInBytes, beta);
}

cudnnStatus_t cudnnAddTensor(cudnnHandle_t handle, const void* alpha, const cudnnTensorDescriptor_t aDesc,
                             const void* A, const void* beta, const cudnnTensorDescriptor_t cDesc, void* C) {
  using kdcu::emu::cudnn_fail;
  const char* call = "cudnnAddTensor";
  if (auto s = kdcu::emu::cudnn_check_handle(handle, call)) return s;
  if (auto s = kdcu::emu::cudnn_check_tensor(aDesc, call, "aDesc")) return s;
  if (auto s = kdcu::emu::cudnn_check_tensor(cDesc, call, "cDesc")) return s;
  const cudnnTensorStruct &a = *aDesc, &c = *cDesc;
  if (a.type != c.type) return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call, "aDesc and cDesc have different data types");
  const size_t elem = kdcu::emu::cudnn_type_size(c.type);
  if (elem == 0) return cudnn_fail(CUDNN_STATUS_NOT_SUPPORTED, call, "only float and double data are emulated");
  const int ad[4] = {a.n, a.c, a.h, a.w}, cd[4] = {c.n, c.c, c.h, c.w};
  for (int i = 0; i < 4; ++i) {
    if (ad[i] != 1 && ad[i] != cd[i]) {
      return cudnn_fail(CUDNN_STATUS_BAD_PARAM, call,
                        "dimension " + std::to_string(i) + " of A is " + std::to_string(ad[i]) +
                            ", neither 1 nor C's " + std::to_string(cd[i]));
    }
  }
  const bool f64 = c.type == CUDNN_DATA_DOUBLE;
  double al = 0, be = 0;
  if (auto s = kdcu::emu::cudnn_host_scale(call, "alpha", alpha, f64, &al)) return s;
  if (auto s = kdcu::emu::cudnn_host_scale(call, "beta", beta, f64, &be)) return s;
  if (!kdcu::emu::cudnn_device_operand(call, "A", A, static_cast<size_t>(kdcu::emu::numel(a)) * elem) ||
      !kdcu::emu::cudnn_device_operand(call, "C", C, static_cast<size_t>(kdcu::emu::numel(c)) * elem)) {
    return CUDNN_STATUS_EXECUTION_FAILED;
  }
  const auto add = [&](auto* cp, const auto* ap) {
    using T = std::remove_pointer_t<decltype(cp)>;
    std::int64_t i = 0;
    for (int n = 0; n < c.n; ++n)
      for (int ch = 0; ch < c.c; ++ch)
        for (int h = 0; h < c.h; ++h)
          for (int w = 0; w < c.w; ++w, ++i) {
            const std::int64_t j =
                ((static_cast<std::int64_t>(a.n == 1 ? 0 : n) * a.c + (a.c == 1 ? 0 : ch)) * a.h + (a.h == 1 ? 0 : h)) *
                    a.w +
                (a.w == 1 ? 0 : w);
            const double v = al * static_cast<double>(ap[j]);
            cp[i] = static_cast<T>(be == 0.0 ? v : v + be * static_cast<double>(cp[i]));
          }
  };
  if (f64) {
    add(static_cast<double*>(C), static_cast<const double*>(A));
  } else {
    add(static_cast<float*>(C), static_cast<const float*>(A));
  }
  return CUDNN_STATUS_SUCCESS;
}
