// The cuDNN algorithm choice (kernels/cuda/conv_algo.h) on made-up Find results: it follows the
// fixed preference whatever the measured times, so every process (a run and its resume) takes the
// same algorithms. A pure function: it needs cuDNN's header, not a GPU.
#include "core/config.h"

#if KDCU_WITH_CUDA
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "kernels/cuda/conv_algo.h"

namespace kdcu {
namespace {

using kernels::cuda::choose_algorithm;
using kernels::cuda::kBackwardFilterPreference;
using kernels::cuda::kForwardPreference;

cudnnConvolutionFwdAlgoPerf_t fwd(cudnnConvolutionFwdAlgo_t algo, float time,
                                  cudnnDeterminism_t det = CUDNN_DETERMINISTIC,
                                  cudnnMathType_t math = CUDNN_FMA_MATH, cudnnStatus_t status = CUDNN_STATUS_SUCCESS) {
  cudnnConvolutionFwdAlgoPerf_t p{};
  p.algo = algo;
  p.time = time;
  p.determinism = det;
  p.mathType = math;
  p.status = status;
  return p;
}

TEST(CudaConvAlgo, TheChoiceIgnoresFindsTimings) {
  std::vector<cudnnConvolutionFwdAlgoPerf_t> perf = {fwd(CUDNN_CONVOLUTION_FWD_ALGO_GEMM, 0.1f),
                                                     fwd(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, 0.5f),
                                                     fwd(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, 0.9f)};
  // Find sorts by time; every order of the same results gives the same choice.
  std::sort(perf.begin(), perf.end(), [](const auto& a, const auto& b) { return a.algo < b.algo; });
  do {
    const auto* chosen = choose_algorithm(perf.data(), static_cast<int>(perf.size()), true, kForwardPreference);
    ASSERT_NE(chosen, nullptr);
    EXPECT_EQ(chosen->algo, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM);
  } while (std::next_permutation(perf.begin(), perf.end(),
                                 [](const auto& a, const auto& b) { return a.algo < b.algo; }));
}

TEST(CudaConvAlgo, FailuresTensorOpsUnderStrictF32AndDownConversionAreSkipped) {
  const std::vector<cudnnConvolutionFwdAlgoPerf_t> perf = {
      fwd(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, 0.1f, CUDNN_DETERMINISTIC, CUDNN_FMA_MATH,
          CUDNN_STATUS_NOT_SUPPORTED),
      fwd(CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED, 0.2f, CUDNN_DETERMINISTIC, CUDNN_TENSOR_OP_MATH),
      fwd(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, 0.3f, CUDNN_DETERMINISTIC,
          CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION),
      fwd(CUDNN_CONVOLUTION_FWD_ALGO_GEMM, 0.4f)};
  const int n = static_cast<int>(perf.size());
  EXPECT_EQ(choose_algorithm(perf.data(), n, true, kForwardPreference)->algo, CUDNN_CONVOLUTION_FWD_ALGO_GEMM);
  // TF32 allowed: the tensor-op Winograd is next in the preference.
  EXPECT_EQ(choose_algorithm(perf.data(), n, false, kForwardPreference)->algo,
            CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED);
  EXPECT_EQ(choose_algorithm(perf.data(), 1, true, kForwardPreference), nullptr) << "only a failure";
}

TEST(CudaConvAlgo, ANonDeterministicAlgorithmOnlyWhenNoDeterministicOneWorks) {
  cudnnConvolutionBwdFilterAlgoPerf_t a{}, b{};
  a.algo = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3;  // first in Find's order: the fastest
  a.determinism = CUDNN_NON_DETERMINISTIC;
  a.mathType = CUDNN_FMA_MATH;
  a.status = CUDNN_STATUS_SUCCESS;
  b = a;
  b.algo = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT;
  b.determinism = CUDNN_DETERMINISTIC;
  const cudnnConvolutionBwdFilterAlgoPerf_t both[] = {a, b};
  EXPECT_EQ(choose_algorithm(both, 2, true, kBackwardFilterPreference)->algo, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT);
  EXPECT_EQ(choose_algorithm(both, 1, true, kBackwardFilterPreference)->algo, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3);
}

}  // namespace
}  // namespace kdcu
#endif  // KDCU_WITH_CUDA
