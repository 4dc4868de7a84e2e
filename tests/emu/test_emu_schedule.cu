// A missing __syncthreads shows up: under the forward and the reverse schedule a kernel that reads
// a neighbour's shared-memory write without a barrier gets a wrong answer (a different one under
// each), and the same kernel with the barrier is right under every schedule. Also: shared memory is
// poisoned before each block, blocks run in the schedule's order, and a random schedule repeats
// with its seed. Under ThreadSanitizer the race is reported whatever the order.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "tests/emu/emu_test_util.h"

namespace kdcu {
namespace {

using emu::Order;
using testing::DeviceVector;
using testing::ScheduleGuard;
using testing::try_launch;

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KDCU_TEST_TSAN 1
#endif
#endif

constexpr int kThreads = 64;

// out[t] = the value thread t+1 wrote (the last thread reads thread 0's).
__global__ void neighbour_kernel(int* out, bool barrier) {
  __shared__ int slot[kThreads];
  const int t = static_cast<int>(threadIdx.x);
  slot[t] = 100 + t;
  if (barrier) __syncthreads();
  out[blockIdx.x * kThreads + t] = slot[(t + 1) % kThreads];
}

std::vector<int> neighbours(Order order, bool barrier, std::uint64_t seed = 1) {
  ScheduleGuard schedule(order, seed);
  DeviceVector<int> out(2 * kThreads, 0);
  const auto r = try_launch(neighbour_kernel, 2, kThreads, out.get(), barrier);
  EXPECT_EQ(r.error, cudaSuccess) << r.fault;
  return out.host();
}

std::vector<int> right_answer() {
  std::vector<int> want(2 * kThreads);
  for (int i = 0; i < 2 * kThreads; ++i) want[static_cast<size_t>(i)] = 100 + (i % kThreads + 1) % kThreads;
  return want;
}

TEST(EmuSchedule, WithTheBarrierEveryOrderIsRight) {
  for (Order o : {Order::kForward, Order::kReverse, Order::kRandom})
    EXPECT_EQ(neighbours(o, true), right_answer()) << static_cast<int>(o);
  EXPECT_EQ(neighbours(Order::kRandom, true, 77), right_answer());
}

TEST(EmuSchedule, AMissingBarrierGivesWrongAnswersThatDependOnTheOrder) {
#ifdef KDCU_TEST_TSAN
  GTEST_SKIP() << "under ThreadSanitizer the race is itself the finding (EmuScheduleTsan checks it in a child)";
#endif
  const std::vector<int> forward = neighbours(Order::kForward, false);
  const std::vector<int> reverse = neighbours(Order::kReverse, false);
  EXPECT_NE(forward, right_answer());
  EXPECT_NE(reverse, right_answer());
  EXPECT_NE(forward, reverse);
  // Forward: thread t ends before t + 1 writes, so it reads the poison (0xffffffff bytes = -1).
  EXPECT_EQ(forward[0], -1);
  // Reverse: everyone but the last thread finds its neighbour's value.
  EXPECT_EQ(reverse[0], 101);
  EXPECT_EQ(reverse[kThreads - 1], -1);
}

__global__ void block_order_kernel(unsigned* ticket, unsigned* order) {
  if (threadIdx.x == 0) order[blockIdx.x] = atomicAdd(ticket, 1u);
}

std::vector<unsigned> block_order(Order o, std::uint64_t seed = 1) {
  ScheduleGuard schedule(o, seed);
  DeviceVector<unsigned> ticket(1, 0), order(8, 99);
  EXPECT_EQ(try_launch(block_order_kernel, 8, 32, ticket.get(), order.get()).error, cudaSuccess);
  return order.host();
}

TEST(EmuSchedule, BlocksRunInTheScheduleOrder) {
  EXPECT_EQ(block_order(Order::kForward), (std::vector<unsigned>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(block_order(Order::kReverse), (std::vector<unsigned>{7, 6, 5, 4, 3, 2, 1, 0}));
  const std::vector<unsigned> r1 = block_order(Order::kRandom, 5);
  EXPECT_EQ(block_order(Order::kRandom, 5), r1) << "the same seed repeats the schedule";
  std::vector<unsigned> sorted = r1;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<unsigned>{0, 1, 2, 3, 4, 5, 6, 7}));
}

// Each block reads its shared slot before writing it: the poison, never the last block's value.
__global__ void stale_shared_kernel(int* out) {
  __shared__ int slot;
  if (threadIdx.x == 0) {
    out[blockIdx.x] = slot;
    slot = static_cast<int>(blockIdx.x) + 1;
  }
}

TEST(EmuSchedule, SharedMemoryIsPoisonedBeforeEachBlock) {
  DeviceVector<int> out(4, 0);
  ASSERT_EQ(try_launch(stale_shared_kernel, 4, 32, out.get()).error, cudaSuccess);
  EXPECT_EQ(out.host(), (std::vector<int>{-1, -1, -1, -1}));
}

TEST(EmuSchedule, ScheduleNamesParse) {
  emu::Schedule s;
  ASSERT_TRUE(emu::parse_schedule("reverse", &s));
  EXPECT_EQ(s.order, Order::kReverse);
  ASSERT_TRUE(emu::parse_schedule("random:42", &s));
  EXPECT_EQ(s.order, Order::kRandom);
  EXPECT_EQ(s.seed, 42u);
  EXPECT_EQ(emu::schedule_name(s), "random:42");
  EXPECT_FALSE(emu::parse_schedule("backwards", &s));
  EXPECT_FALSE(emu::parse_schedule("random:", &s));
  EXPECT_FALSE(emu::parse_schedule("random:x", &s));
}

#ifdef KDCU_TEST_TSAN
// The same missing barrier under ThreadSanitizer: the write of slot[t + 1] and its read by thread
// t are reported as a race between two fibers, in whichever order they ran. The child process
// exits with _Exit(0) so the report, not TSan's exit code, is what the test reads.
TEST(EmuScheduleTsan, AMissingBarrierIsADataRace) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  for (Order o : {Order::kForward, Order::kReverse}) {
    EXPECT_EXIT(
        {
          neighbours(o, false);
          std::_Exit(0);
        },
        ::testing::ExitedWithCode(0), "ThreadSanitizer: data race");
  }
}

TEST(EmuScheduleTsan, WithTheBarrierThereIsNoRace) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        neighbours(Order::kForward, true);
        neighbours(Order::kRandom, true);
        std::fprintf(stderr, "no report\n");
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "^no report\n$");
}
#endif

}  // namespace
}  // namespace kdcu
