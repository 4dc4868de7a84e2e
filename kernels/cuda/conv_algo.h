// The choice of a cuDNN convolution algorithm from cudnnFind*'s results (kernels/cuda/conv.cpp).
// Find measures times, and times differ between processes, so choosing "the fastest" would let a
// resumed run take other algorithms than the run it resumes, and give other bits. kdcu instead
// takes the first algorithm of a fixed preference list that Find reports as a deterministic
// success (under strict f32, one that is not tensor-op math); only where none is, a
// non-deterministic one, in the same order. Find's timings play no part: the same GPU model,
// cuDNN version and shapes give the same choice in every process.
#pragma once

#include <cudnn.h>

#include <initializer_list>

namespace kdcu {
namespace kernels {
namespace cuda {

// Preferences: the implicit-GEMM / GEMM-based algorithms first (good at the small images of the
// reference models, small workspaces), then Winograd and FFT, the non-deterministic ones last.
inline constexpr cudnnConvolutionFwdAlgo_t kForwardPreference[] = {
    CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED,
    CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,         CUDNN_CONVOLUTION_FWD_ALGO_GEMM,
    CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING,            CUDNN_CONVOLUTION_FWD_ALGO_FFT,
    CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD,              CUDNN_CONVOLUTION_FWD_ALGO_DIRECT};
inline constexpr cudnnConvolutionBwdDataAlgo_t kBackwardDataPreference[] = {
    CUDNN_CONVOLUTION_BWD_DATA_ALGO_1,   CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED,
    CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING, CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT,
    CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD,   CUDNN_CONVOLUTION_BWD_DATA_ALGO_0};
inline constexpr cudnnConvolutionBwdFilterAlgo_t kBackwardFilterPreference[] = {
    CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1,          CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED,
    CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT,
    CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3,          CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0};

inline bool is_tensor_op(cudnnMathType_t m) {
  return m == CUDNN_TENSOR_OP_MATH || m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
}

// The chosen entry of Find's `count` results, or nullptr when none is usable. An entry is usable
// when it succeeded, is not FP16 down-conversion (ALLOW_CONVERSION is not f32 math) and, with
// `strict` (f32 with TF32 off), is not tensor-op math.
template <class Perf, class AlgoT, size_t N>
const Perf* choose_algorithm(const Perf* perf, int count, bool strict, const AlgoT (&preference)[N]) {
  const auto usable = [&](const Perf& p) {
    return p.status == CUDNN_STATUS_SUCCESS && p.mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION &&
           !(strict && is_tensor_op(p.mathType));
  };
  for (const bool deterministic_only : {true, false}) {
    for (const AlgoT algo : preference) {
      for (int i = 0; i < count; ++i) {
        const Perf& p = perf[i];
        if (p.algo == algo && usable(p) && (!deterministic_only || p.determinism == CUDNN_DETERMINISTIC)) return &p;
      }
    }
  }
  return nullptr;
}

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
