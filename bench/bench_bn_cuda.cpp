// Batch norm on CUDA, training mode, f32: kdcu's own kernels (batch_norm_stats + batch_norm_forward;
// batch_norm_backward) against cuDNN's (cudnnBatchNormalizationForwardTraining / Backward) on the
// activation shapes of the reference ResNets at batch 256. The issue leaves the choice to a
// measurement: this prints both times, GB/s over the minimal traffic (forward: read x, write y,
// 8 B per element; backward: read x and dy, write dx, 12 B) and the cuDNN/own ratio, plus the
// largest difference between the two results, so the times compare equal work. Timing as in
// bench_kd_cuda (bench/cuda_harness.h).
//   bench_bn_cuda [--json]
// Without a usable GPU: prints "bench_bn_cuda: skipped: CUDA unavailable: <reason>" and exits 0.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/cuda_runtime.h"
#include "core/factories.h"

#if KDCU_WITH_CUDA
#include "bench/cuda_harness.h"
#include "kernels/cuda/batch_norm.h"
#include "kernels/cuda/batch_norm_cudnn.h"

namespace {

using namespace kdcu;
using bench::EventTimer;
using bench::kDevice;
using bench::L2Flush;

constexpr double kEps = 1e-5, kMomentum = 0.1;

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.to_vector<float>(), y = b.to_vector<float>();
  double m = 0.0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(static_cast<double>(x[i]) - y[i]));
  return m;
}

int run(bool json) {
  cudaDeviceProp prop{};
  KDCU_CUDA_CHECK(cudaGetDeviceProperties(&prop, kDevice));
  EventTimer timer;
  L2Flush flush;
  const double copy_bps = bench::copy_bandwidth(timer);
  // resnet20 on 28x28 (Fashion-MNIST) and 32x32 (CIFAR) inputs, and a resnet18-sized layer.
  const std::int64_t shapes[][4] = {{256, 16, 28, 28}, {256, 32, 14, 14}, {256, 64, 7, 7},
                                    {256, 16, 32, 32}, {256, 64, 8, 8},   {256, 64, 56, 56}};
  if (!json) {
    std::printf("batch norm, training, f32, %s, D2D copy %.0f GB/s, median of %d, L2 flushed\n", prop.name,
                copy_bps / 1e9, bench::kRuns);
    std::printf("%-6s %-18s %10s %8s %11s %8s %12s %10s\n", "pass", "N x C x H x W", "kdcu (us)", "GB/s", "cuDNN (us)",
                "GB/s", "cuDNN/kdcu", "max diff");
  }
  const Device gpu = Device::cuda(kDevice);
  Generator gen(0);
  for (const auto& sh : shapes) {
    const std::int64_t n = sh[0], c = sh[1], s = sh[2] * sh[3], numel = n * c * s;
    const Tensor x = randn({n, c, sh[2], sh[3]}, gen, DType::F32, gpu, 0.5, 2.0);
    const Tensor dy = randn({n, c, sh[2], sh[3]}, gen, DType::F32, gpu);
    const Tensor w = randn({c}, gen, DType::F32, gpu, 1.0, 0.1), b = randn({c}, gen, DType::F32, gpu, 0.0, 0.1);
    Tensor y_own = empty_like(x), y_dnn = empty_like(x), dx_own = empty_like(x), dx_dnn = empty_like(x);
    Tensor mean = empty({c}, DType::F32, gpu), invstd = empty_like(mean), dmean = empty_like(mean),
           dinvstd = empty_like(mean);
    Tensor rm = zeros({c}, DType::F32, gpu), rv = ones({c}, DType::F32, gpu);
    Tensor dw_own = empty_like(mean), db_own = empty_like(mean), dw_dnn = empty_like(mean), db_dnn = empty_like(mean);
    const auto own_fwd = [&] {
      kernels::cuda::batch_norm_stats<float>(x.data<float>(), n, c, s, kEps, mean.data<float>(), invstd.data<float>(),
                                             rm.data<float>(), rv.data<float>(), kMomentum, kDevice);
      kernels::cuda::batch_norm_forward<float>(x.data<float>(), mean.data<float>(), invstd.data<float>(),
                                               w.data<float>(), b.data<float>(), y_own.data<float>(), n, c, s, kDevice);
    };
    const auto dnn_fwd = [&] {
      kernels::cuda::cudnn_batch_norm_forward_training(x.data<float>(), y_dnn.data<float>(), w.data<float>(),
                                                       b.data<float>(), rm.data<float>(), rv.data<float>(),
                                                       dmean.data<float>(), dinvstd.data<float>(), n, c, s, kEps,
                                                       kMomentum, kDevice);
    };
    const auto own_bwd = [&] {
      kernels::cuda::batch_norm_backward<float>(x.data<float>(), dy.data<float>(), mean.data<float>(),
                                                invstd.data<float>(), w.data<float>(), true, dx_own.data<float>(),
                                                dw_own.data<float>(), db_own.data<float>(), n, c, s, kDevice);
    };
    const auto dnn_bwd = [&] {
      kernels::cuda::cudnn_batch_norm_backward(x.data<float>(), dy.data<float>(), w.data<float>(), dmean.data<float>(),
                                               dinvstd.data<float>(), dx_dnn.data<float>(), dw_dnn.data<float>(),
                                               db_dnn.data<float>(), n, c, s, kEps, kDevice);
    };
    own_fwd(), dnn_fwd(), own_bwd(), dnn_bwd();
    const double diff_fwd = max_abs_diff(y_own, y_dnn), diff_bwd = max_abs_diff(dx_own, dx_dnn);
    const double t_own_fwd = timer.median_s(flush, own_fwd), t_dnn_fwd = timer.median_s(flush, dnn_fwd);
    const double t_own_bwd = timer.median_s(flush, own_bwd), t_dnn_bwd = timer.median_s(flush, dnn_bwd);
    const std::string shape = std::to_string(n) + "x" + std::to_string(c) + "x" + std::to_string(sh[2]) + "x" +
                              std::to_string(sh[3]);
    const auto row = [&](const char* pass, double bytes_per_elem, double own, double dnn, double diff) {
      const double bytes = bytes_per_elem * static_cast<double>(numel);
      if (json) {
        std::printf(
            "{\"op\":\"batch_norm_%s\",\"device\":\"%s\",\"shape\":\"%s\",\"kdcu_us\":%.3f,\"kdcu_gbs\":%.2f,"
            "\"cudnn_us\":%.3f,\"cudnn_gbs\":%.2f,\"cudnn_over_kdcu\":%.3f,\"max_diff\":%.3g,\"copy_gbs\":%.1f}\n",
            pass, prop.name, shape.c_str(), own * 1e6, bytes / own / 1e9, dnn * 1e6, bytes / dnn / 1e9, dnn / own, diff,
            copy_bps / 1e9);
      } else {
        std::printf("%-6s %-18s %10.1f %8.1f %11.1f %8.1f %11.2fx %10.2g\n", pass, shape.c_str(), own * 1e6,
                    bytes / own / 1e9, dnn * 1e6, bytes / dnn / 1e9, dnn / own, diff);
      }
    };
    row("fwd", 8.0, t_own_fwd, t_dnn_fwd, diff_fwd);
    row("bwd", 12.0, t_own_bwd, t_dnn_bwd, diff_bwd);
  }
  if (!json) std::printf("cuDNN/kdcu > 1: kdcu's own kernels are faster\n");
  return 0;
}

}  // namespace
#endif

int main(int argc, char** argv) {
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0) {
      json = true;
    } else {
      std::fprintf(stderr, "bench_bn_cuda: unknown option '%s' (expected --json)\n", argv[i]);
      return 2;
    }
  }
  if (!kdcu::cuda::available()) {
    std::printf("bench_bn_cuda: skipped: CUDA unavailable: %s\n", kdcu::cuda::availability().reason.c_str());
    return 0;
  }
#if KDCU_WITH_CUDA
  try {
    return run(json);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_bn_cuda: error: %s\n", e.what());
    return 1;
  }
#else
  (void)json;
  return 0;
#endif
}
