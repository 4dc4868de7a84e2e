// KD loss forward + backward on the CPU: kdcu's fused kd_kl_div against the same loss composed
// from kdcu's unfused primitives (scale, log_softmax, exp, sub, mul, sum and their backwards, as
// an eager framework runs it). Prints median times, the fused/composed ratio, and the achieved
// bandwidth over the minimal traffic (read s and t, write ds: 12 * B * C bytes in f32).
//   bench_kd_loss [--json] [--quick]
#include <omp.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "bench/harness.h"
#include "core/factories.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/reduce.h"
#include "ops/softmax.h"

namespace {

using namespace kdcu;

// T^2 * sum(p_t * (log p_t - log p_s)) / B, built from separate ops.
Tensor composed_kd(const Tensor& s, const Tensor& t, double T) {
  const Tensor log_ps = ops::log_softmax(s * (1.0 / T), 1);
  const Tensor log_pt = ops::log_softmax(t * (1.0 / T), 1);
  const Tensor kl = ops::exp(log_pt) * (log_pt - log_ps);
  return ops::sum(kl) * (T * T / static_cast<double>(s.size(0)));
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false, quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0)
      json = true;
    else if (std::strcmp(argv[i], "--quick") == 0)
      quick = true;
    else {
      std::fprintf(stderr, "bench_kd_loss: unknown option '%s' (expected --json, --quick)\n", argv[i]);
      return 2;
    }
  }
  const std::int64_t sizes[][2] = {{256, 10}, {256, 100}, {4096, 1000}, {1024, 32000}};
  const double T = 4.0;
  if (!json) {
    std::printf("KD loss fwd+bwd, f32, CPU, %d threads, T = %g\n", omp_get_max_threads(), T);
    std::printf("%-14s %14s %14s %10s %12s\n", "B x C", "fused (us)", "composed (us)", "speed-up", "fused GB/s");
  }
  Generator gen(0);
  for (const auto& bc : sizes) {
    const std::int64_t B = bc[0], C = bc[1];
    if (quick && B * C > 1000000) continue;
    Tensor s = randn({B, C}, gen, DType::F32, Device::cpu(), 0.0, 3.0);
    const Tensor t = randn({B, C}, gen, DType::F32, Device::cpu(), 0.0, 3.0);
    s.requires_grad_();
    const auto run = [&](auto loss_fn) {
      return bench::time_median([&] {
        const Tensor loss = loss_fn();
        loss.backward();
        s.zero_grad();
      });
    };
    const bench::Timing fused = run([&] { return ops::kd_kl_div(s, t, T); });
    const bench::Timing composed = run([&] { return composed_kd(s, t, T); });
    const double gbs = 12.0 * static_cast<double>(B * C) / fused.median_s / 1e9;
    if (json) {
      std::printf(
          "{\"op\":\"kd_kl_div_fwd_bwd\",\"B\":%lld,\"C\":%lld,\"threads\":%d,\"fused_s\":%.9g,"
          "\"composed_s\":%.9g,\"fused_gbs\":%.4g}\n",
          static_cast<long long>(B), static_cast<long long>(C), omp_get_max_threads(), fused.median_s,
          composed.median_s, gbs);
    } else {
      const std::string shape = std::to_string(B) + " x " + std::to_string(C);
      std::printf("%-14s %14.1f %14.1f %9.2fx %12.2f\n", shape.c_str(), fused.median_s * 1e6, composed.median_s * 1e6,
                  composed.median_s / fused.median_s, gbs);
    }
  }
  return 0;
}
