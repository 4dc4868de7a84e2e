// The bad-label record of the labelled CUDA losses (cross-entropy, the hard-label KD kernels).
// A label outside [0, C) is not checked before a launch, since that would wait for the device.
// The kernel writes NaN for that row's loss and gradient, never reads outside the row, and notes
// the label in a record each device keeps (a __device__ variable in labels.cu, whose address
// kernels in other files get as an argument). The record keeps the first launch, in stream order,
// that saw a bad label, with its smallest bad row. take_label_error (loss.h) reads and clears it.
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cuda {

struct LabelRecord {
  unsigned long long row;  // kNoRow while clear
  long long label, classes;
  unsigned long long tag;  // the launch that wrote it
  int lock;
};
inline constexpr unsigned long long kNoRow = ~0ull;

// Host: the address of `device`'s record, for a kernel argument.
LabelRecord* label_record(int device);
// Host: a fresh tag per labelled launch (any device), so the record tells its launch from a later one.
unsigned long long next_label_tag();

__device__ inline bool bad_label(std::int64_t y, std::int64_t C) {
  return y < 0 || y >= C;
}

// Notes bad label y of row `row` (C classes) in launch `tag`: the record keeps the first launch that
// saw one and, within it, the smallest row, whatever order the rows arrive in. Only bad rows come
// here, so a spin lock does (sm_70+ schedules the lanes of a warp independently: lanes that contend
// for it all progress). Within a launch the recorded row only decreases, so a stale read of it is
// still a safe reason to skip.
__device__ inline void record_bad_label(LabelRecord* record, unsigned long long tag, std::int64_t row, std::int64_t y,
                                        std::int64_t C) {
  volatile LabelRecord& r = *record;
  const unsigned long long u = static_cast<unsigned long long>(row);
  if (r.row <= u) return;  // an earlier launch, or a smaller row of this one, is recorded already
  int* lock = const_cast<int*>(&r.lock);
  while (atomicCAS(lock, 0, 1) != 0) {
  }
  __threadfence();
  if (r.row == kNoRow || (r.tag == tag && u < r.row)) {
    r.tag = tag;
    r.label = y;
    r.classes = C;
    r.row = u;
  }
  __threadfence();
  atomicExch(lock, 0);
}

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
