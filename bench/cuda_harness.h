// CUDA timing for kdcu's GPU microbenchmarks: CUDA events on kdcu's stream after warm-up, the
// median of many runs, the L2 flushed (a buffer of 4x the L2 written) before each timed run, and
// the device-to-device copy bandwidth as the reference for GB/s figures. Include only where
// KDCU_WITH_CUDA is set.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/cuda_check.h"
#include "core/cuda_runtime.h"
#include "core/factories.h"

namespace kdcu {
namespace bench {

constexpr int kDevice = 0;
constexpr int kWarmup = 3;
constexpr int kRuns = 50;

// CUDA events on kdcu's stream; `prepare` runs untimed before each run (the L2 flush).
class EventTimer {
 public:
  EventTimer() {
    KDCU_CUDA_CHECK(cudaEventCreate(&start_));
    KDCU_CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~EventTimer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;

  // Median seconds of `runs` timed calls of fn after `warmup` untimed ones.
  template <class Prepare, class Fn>
  double median_s(Prepare&& prepare, Fn&& fn, int warmup = kWarmup, int runs = kRuns) {
    cudaStream_t st = kdcu::cuda::stream(kDevice);
    for (int i = 0; i < warmup; ++i) fn();
    std::vector<double> samples;
    for (int i = 0; i < runs; ++i) {
      prepare();
      KDCU_CUDA_CHECK(cudaEventRecord(start_, st));
      fn();
      KDCU_CUDA_CHECK(cudaEventRecord(stop_, st));
      KDCU_CUDA_CHECK(cudaEventSynchronize(stop_));
      float ms = 0.0f;
      KDCU_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
      samples.push_back(static_cast<double>(ms) * 1e-3);
    }
    std::sort(samples.begin(), samples.end());
    return samples[samples.size() / 2];
  }

 private:
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

// Writes a buffer of 4x the L2 so no run starts with its inputs cached.
class L2Flush {
 public:
  L2Flush() {
    int l2 = 0;
    KDCU_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, kDevice));
    bytes_ = std::max<size_t>(static_cast<size_t>(l2) * 4, size_t(64) << 20);
    buffer_ = empty({static_cast<std::int64_t>(bytes_ / 4)}, DType::F32, Device::cuda(kDevice));
  }
  void operator()() { kdcu::cuda::memset_bytes(buffer_.raw_data(), ++byte_ & 0xff, bytes_, kDevice); }
  size_t bytes() const { return bytes_; }

 private:
  size_t bytes_ = 0;
  Tensor buffer_;
  int byte_ = 0;
};

// Device-to-device copy bandwidth (read + write) of a 1 GiB buffer, bytes per second.
inline double copy_bandwidth(EventTimer& timer) {
  const std::int64_t n = std::int64_t(1) << 28;  // 1 GiB of f32
  const Tensor a = zeros({n}, DType::F32, Device::cuda(kDevice)), b = empty({n}, DType::F32, Device::cuda(kDevice));
  const size_t bytes = static_cast<size_t>(n) * 4;
  const double s = timer.median_s(
      [] {}, [&] { kdcu::cuda::copy_device_to_device(b.raw_data(), a.raw_data(), bytes, kDevice); }, 2, 20);
  return 2.0 * static_cast<double>(bytes) / s;
}

}  // namespace bench
}  // namespace kdcu
