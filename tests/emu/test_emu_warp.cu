// Warp operations of the emulator against lane maps written out by hand from the CUDA
// programming guide's descriptions (not from the PTX formula the emulator implements), for
// widths 8, 16 and 32; votes; and 64-bit shuffles.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "tests/emu/emu_test_util.h"

namespace kdcu {
namespace {

using testing::DeviceVector;
using testing::try_launch;

enum Shfl { kIdx, kUp, kDown, kXor };

// out[lane] = the value (the source lane's index) lane `lane` receives.
__global__ void shfl_kernel(int* out, int kind, int arg, int width) {
  const int lane = static_cast<int>(threadIdx.x);
  int v = 0;
  switch (kind) {
    case kIdx: v = __shfl_sync(0xffffffffu, lane, arg, width); break;
    case kUp: v = __shfl_up_sync(0xffffffffu, lane, static_cast<unsigned>(arg), width); break;
    case kDown: v = __shfl_down_sync(0xffffffffu, lane, static_cast<unsigned>(arg), width); break;
    default: v = __shfl_xor_sync(0xffffffffu, lane, arg, width); break;
  }
  out[lane] = v;
}

std::vector<int> run_shfl(int kind, int arg, int width) {
  DeviceVector<int> out(32, -7);
  const auto r = try_launch(shfl_kernel, 1, 32, out.get(), kind, arg, width);
  EXPECT_EQ(r.error, cudaSuccess) << r.detail << r.fault;
  return out.host();
}

TEST(EmuShuffle, IdxWidth8ReadsTheSourceLaneOfEachSegment) {
  // srcLane 3 in segments of 8: every lane reads lane 3 of its own segment.
  const std::vector<int> want = {3,  3,  3,  3,  3,  3,  3,  3,  11, 11, 11, 11, 11, 11, 11, 11,
                                 19, 19, 19, 19, 19, 19, 19, 19, 27, 27, 27, 27, 27, 27, 27, 27};
  EXPECT_EQ(run_shfl(kIdx, 3, 8), want);
  // srcLane 13 is taken modulo the width: lane 5 of each segment.
  const std::vector<int> mod = {5,  5,  5,  5,  5,  5,  5,  5,  13, 13, 13, 13, 13, 13, 13, 13,
                                21, 21, 21, 21, 21, 21, 21, 21, 29, 29, 29, 29, 29, 29, 29, 29};
  EXPECT_EQ(run_shfl(kIdx, 13, 8), mod);
}

TEST(EmuShuffle, IdxWidth32Broadcasts) {
  EXPECT_EQ(run_shfl(kIdx, 17, 32), std::vector<int>(32, 17));
}

TEST(EmuShuffle, UpWidth16KeepsTheLowestDeltaLanesOfEachSegment) {
  // delta 2: lanes 0, 1 and 16, 17 keep their own value.
  const std::vector<int> want = {0,  1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13,
                                 16, 17, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29};
  EXPECT_EQ(run_shfl(kUp, 2, 16), want);
}

TEST(EmuShuffle, DownWidth8KeepsTheHighestDeltaLanesOfEachSegment) {
  // delta 3: lanes 5, 6, 7 of each segment keep their own value.
  const std::vector<int> want = {3,  4,  5,  6,  7,  5,  6,  7,  11, 12, 13, 14, 15, 13, 14, 15,
                                 19, 20, 21, 22, 23, 21, 22, 23, 27, 28, 29, 30, 31, 29, 30, 31};
  EXPECT_EQ(run_shfl(kDown, 3, 8), want);
}

TEST(EmuShuffle, DownWidth32) {
  std::vector<int> want(32);
  for (int l = 0; l < 32; ++l) want[static_cast<size_t>(l)] = l + 16 < 32 ? l + 16 : l;
  EXPECT_EQ(run_shfl(kDown, 16, 32), want);
}

TEST(EmuShuffle, XorWidth16) {
  // lane mask 5 stays inside each 16-lane segment: 0<->5, 1<->4, 2<->7, 3<->6, ...
  const std::vector<int> want = {5,  4,  7,  6,  1,  0,  3,  2,  13, 12, 15, 14, 9,  8,  11, 10,
                                 21, 20, 23, 22, 17, 16, 19, 18, 29, 28, 31, 30, 25, 24, 27, 26};
  EXPECT_EQ(run_shfl(kXor, 5, 16), want);
}

TEST(EmuShuffle, XorWithAMaskPastTheWidthReadsEarlierSegmentsOnly) {
  // The guide: with width < 32 a lane may read from an earlier group, not a later one (its own
  // value then). Width 8, lane mask 8: the second segment reads the first, the first keeps its own.
  const std::vector<int> want = {0,  1,  2,  3,  4,  5,  6,  7,  0,  1,  2,  3,  4,  5,  6,  7,
                                 16, 17, 18, 19, 20, 21, 22, 23, 16, 17, 18, 19, 20, 21, 22, 23};
  EXPECT_EQ(run_shfl(kXor, 8, 8), want);
}

__global__ void shfl_double_kernel(double* out) {
  const double v = 1.0 + threadIdx.x / 1024.0 + 1e-13 * threadIdx.x;  // all 64 bits matter
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, v, 1);
}

TEST(EmuShuffle, SixtyFourBitValuesMoveWhole) {
  DeviceVector<double> out(32);
  ASSERT_EQ(try_launch(shfl_double_kernel, 1, 32, out.get()).error, cudaSuccess);
  const std::vector<double> got = out.host();
  for (int l = 0; l < 32; ++l) {
    const int src = l ^ 1;
    EXPECT_EQ(got[static_cast<size_t>(l)], 1.0 + src / 1024.0 + 1e-13 * src) << "lane " << l;
  }
}

__global__ void vote_kernel(unsigned* ballot, int* any, int* all) {
  const unsigned lane = threadIdx.x % 32;
  const unsigned b = __ballot_sync(0xffffffffu, lane % 3 == 0);
  const int a = __any_sync(0xffffffffu, lane == 31);
  const int l = __all_sync(0xffffffffu, lane < 31);
  if (lane == 0) {
    ballot[threadIdx.x / 32] = b;
    any[threadIdx.x / 32] = a;
    all[threadIdx.x / 32] = l;
  }
}

TEST(EmuVote, BallotAnyAll) {
  DeviceVector<unsigned> ballot(2);
  DeviceVector<int> any(2), all(2, 9);
  ASSERT_EQ(try_launch(vote_kernel, 1, 64, ballot.get(), any.get(), all.get()).error, cudaSuccess);
  EXPECT_EQ(ballot.host(), (std::vector<unsigned>{0x49249249u, 0x49249249u}));
  EXPECT_EQ(any.host(), (std::vector<int>{1, 1}));
  EXPECT_EQ(all.host(), (std::vector<int>{0, 0}));
}

// Half-warp groups with their own masks resolve independently.
__global__ void half_mask_kernel(int* out) {
  const int lane = static_cast<int>(threadIdx.x);
  const unsigned mask = lane < 16 ? 0x0000ffffu : 0xffff0000u;
  out[lane] = __shfl_xor_sync(mask, lane, 1);
}

TEST(EmuShuffle, DisjointMasksResolveSeparately) {
  DeviceVector<int> out(32);
  const auto r = try_launch(half_mask_kernel, 1, 32, out.get());
  ASSERT_EQ(r.error, cudaSuccess) << r.fault;
  const std::vector<int> got = out.host();
  for (int l = 0; l < 32; ++l) EXPECT_EQ(got[static_cast<size_t>(l)], l ^ 1);
}

}  // namespace
}  // namespace kdcu
