// KD loss forward + backward on CUDA: kdcu's fused kd_kl_div (one launch writes the loss and ds;
// the backward hands ds over) against the same loss composed from kdcu's unfused primitives
// (scale by 1/T, log_softmax, exp, sub, mul, sum, scale by T^2/B, and their backwards), and the
// hard-label form kd_hard_loss (alpha 0.9) against that composition plus cross_entropy. The
// launches column counts kdcu's kernel launches per fused forward + backward (the seed's fill
// included). Timed with CUDA events on kdcu's stream,
// after warm-up, with L2 flushed (a buffer of 4x the L2 written) before every run; the median of
// >= 50 runs. Reports the achieved bandwidth over the minimal traffic 12 B C bytes (read s and t,
// write ds, f32) and its share of the device-to-device copy bandwidth measured in the same run.
//   bench_kd_cuda [--json] [--quick]
// Without a usable GPU: prints "bench_kd_cuda: skipped: CUDA unavailable: <reason>" and exits 0.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/cuda_runtime.h"
#include "core/factories.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/reduce.h"
#include "ops/softmax.h"

#if KDCU_WITH_CUDA
#include "bench/cuda_harness.h"
#include "core/cuda_check.h"

namespace {

using namespace kdcu;

using bench::copy_bandwidth;
using bench::EventTimer;
using bench::kDevice;
using bench::kRuns;
using bench::L2Flush;

// T^2 * sum(p_t * (log p_t - log p_s)) / B, built from separate ops (as in bench_kd_loss).
Tensor composed_kd(const Tensor& s, const Tensor& t, double T) {
  const Tensor log_ps = ops::log_softmax(s * (1.0 / T), 1);
  const Tensor log_pt = ops::log_softmax(t * (1.0 / T), 1);
  const Tensor kl = ops::exp(log_pt) * (log_pt - log_ps);
  return ops::sum(kl) * (T * T / static_cast<double>(s.size(0)));
}

constexpr double kAlpha = 0.9;

Tensor composed_hard(const Tensor& s, const Tensor& t, const Tensor& y, double T) {
  return composed_kd(s, t, T) * kAlpha + ops::cross_entropy(s, y) * (1.0 - kAlpha);
}

int run(bool json, bool quick) {
  cudaDeviceProp prop{};
  KDCU_CUDA_CHECK(cudaGetDeviceProperties(&prop, kDevice));
  EventTimer timer;
  L2Flush flush;
  const double copy_bps = copy_bandwidth(timer);
  const double T = 4.0;
  const std::int64_t sizes[][2] = {{256, 10}, {256, 100}, {4096, 1000}, {8192, 32000}};
  if (!json) {
    std::printf("KD loss fwd+bwd, f32, %s, T = %g, L2 flush %zu MiB, D2D copy %.0f GB/s, median of %d\n", prop.name, T,
                flush.bytes() >> 20, copy_bps / 1e9, kRuns);
    std::printf("%-14s %-16s %9s %12s %10s %9s %14s %9s\n", "op", "B x C", "launches", "fused (us)", "GB/s", "% copy",
                "composed (us)", "ratio");
  }
  Generator gen(0);
  for (const auto& bc : sizes) {
    const std::int64_t B = bc[0], C = bc[1];
    if (quick && B * C > 10000000) continue;
    Tensor s = randn({B, C}, gen, DType::F32, Device::cuda(kDevice), 0.0, 3.0);
    const Tensor t = randn({B, C}, gen, DType::F32, Device::cuda(kDevice), 0.0, 3.0);
    std::vector<std::int64_t> labels(static_cast<size_t>(B));
    for (std::int64_t b = 0; b < B; ++b) labels[static_cast<size_t>(b)] = (b * 7919) % C;
    const Tensor y = from_vector<std::int64_t>(labels).to(Device::cuda(kDevice));
    s.requires_grad_();
    const auto fwd_bwd = [&](auto loss_fn) {
      return [&s, loss_fn] {
        const Tensor loss = loss_fn();
        loss.backward();
        s.zero_grad();
      };
    };
    const auto row = [&](const char* op, auto fused_fn, auto composed_fn) {
      const auto fused_step = fwd_bwd(fused_fn);
      const long long before = kdcu::cuda::launch_count();
      fused_step();
      const long long launches = kdcu::cuda::launch_count() - before;
      const double fused = timer.median_s(flush, fused_step);
      const double composed = timer.median_s(flush, fwd_bwd(composed_fn));
      const double gbs = 12.0 * static_cast<double>(B * C) / fused / 1e9;
      const double pct = 100.0 * gbs * 1e9 / copy_bps;
      if (json) {
        std::printf(
            "{\"op\":\"%s_fwd_bwd\",\"device\":\"%s\",\"B\":%lld,\"C\":%lld,\"launches\":%lld,\"fused_us\":%.3f,"
            "\"gbs\":%.2f,\"pct_copy\":%.1f,\"copy_gbs\":%.1f,\"composed_us\":%.3f,\"ratio\":%.3f}\n",
            op, prop.name, static_cast<long long>(B), static_cast<long long>(C), launches, fused * 1e6, gbs, pct,
            copy_bps / 1e9, composed * 1e6, composed / fused);
      } else {
        const std::string shape = std::to_string(B) + " x " + std::to_string(C);
        std::printf("%-14s %-16s %9lld %12.1f %10.1f %8.1f%% %14.1f %8.2fx\n", op, shape.c_str(), launches, fused * 1e6,
                    gbs, pct, composed * 1e6, composed / fused);
      }
    };
    row("kd_kl_div", [&] { return ops::kd_kl_div(s, t, T); }, [&] { return composed_kd(s, t, T); });
    row("kd_hard_loss", [&] { return ops::kd_hard_loss(s, t, y, T, kAlpha); },
        [&] { return composed_hard(s, t, y, T); });
  }
  return 0;
}

}  // namespace
#endif

int main(int argc, char** argv) {
  bool json = false, quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0) {
      json = true;
    } else if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else {
      std::fprintf(stderr, "bench_kd_cuda: unknown option '%s' (expected --json, --quick)\n", argv[i]);
      return 2;
    }
  }
  if (!kdcu::cuda::available()) {
    std::printf("bench_kd_cuda: skipped: CUDA unavailable: %s\n", kdcu::cuda::availability().reason.c_str());
    return 0;
  }
#if KDCU_WITH_CUDA
  try {
    return run(json, quick);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_kd_cuda: error: %s\n", e.what());
    return 1;
  }
#else
  (void)json, (void)quick;
  return 0;
#endif
}
