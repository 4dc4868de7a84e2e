// Timing for kdcu's CPU microbenchmarks: warm up, then repeat until both a minimum count and a
// minimum time are reached, and report the median (robust to the odd slow run).
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

namespace kdcu {
namespace bench {

struct Timing {
  double median_s = 0.0;
  double min_s = 0.0;
  int reps = 0;
};

template <class Fn>
Timing time_median(Fn&& fn, int min_reps = 10, double min_seconds = 0.3) {
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < 2; ++i) fn();  // warm-up: first-touch allocation, caches, thread pool start
  std::vector<double> samples;
  const auto start = clock::now();
  while (static_cast<int>(samples.size()) < min_reps ||
         std::chrono::duration<double>(clock::now() - start).count() < min_seconds) {
    const auto t0 = clock::now();
    fn();
    samples.push_back(std::chrono::duration<double>(clock::now() - t0).count());
  }
  std::sort(samples.begin(), samples.end());
  return {samples[samples.size() / 2], samples.front(), static_cast<int>(samples.size())};
}

}  // namespace bench
}  // namespace kdcu
