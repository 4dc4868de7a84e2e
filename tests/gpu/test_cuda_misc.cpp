// CUDA smooth L1, transpose and dropout against the CPU reference on fresh random inputs, forward
// and backward, f32 and f64. Dropout must draw the CPU's mask bit for bit (same seed, same Philox
// mapping). Every device allocation starts as NaN, so an unwritten element fails.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/factories.h"
#include "ops/dropout.h"
#include "ops/shape.h"
#include "ops/smooth_l1.h"
#include "tests/support/checks.h"
#include "tests/support/cuda_skip.h"

namespace kdcu {
namespace {

using ops::Reduction;

const Device kGpu = Device::cuda();

Tensor leaf_on(const Tensor& host, const Device& device) {
  Tensor t = host.detach().to(device);
  t.requires_grad_();
  return t;
}

TEST(CudaMisc, SmoothL1MatchesCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator g(61);
  for (DType dt : {DType::F32, DType::F64}) {
    for (std::int64_t n : {1, 33, 1025, 32769, 100003}) {
      const Tensor x = randn({n}, g, dt), t = randn({n}, g, dt), seed = randn({n}, g, dt);
      for (double beta : {0.0, 0.5, 1.0}) {
        for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
          const std::string what = std::string(dtype_name(dt)) + " n " + std::to_string(n) + " beta " +
                                   std::to_string(beta) + " " + ops::reduction_name(r);
          const Tensor xc = leaf_on(x, Device::cpu()), tc = leaf_on(t, Device::cpu());
          const Tensor xd = leaf_on(x, kGpu), td = leaf_on(t, kGpu);
          const Tensor lc = ops::smooth_l1_loss(xc, tc, beta, r), ld = ops::smooth_l1_loss(xd, td, beta, r);
          EXPECT_TRUE(testing::all_close(ld, lc, testing::tolerance_for(dt))) << what << " loss";
          if (lc.dim() == 0) {
            lc.backward();
            ld.backward();
          } else {
            lc.backward(seed);
            ld.backward(seed.to(kGpu));
          }
          EXPECT_TRUE(testing::all_close(xd.grad(), xc.grad(), testing::tolerance_for(dt))) << what << " d(input)";
          EXPECT_TRUE(testing::all_close(td.grad(), tc.grad(), testing::tolerance_for(dt))) << what << " d(target)";
        }
      }
    }
  }
}

TEST(CudaMisc, TransposeMatchesCpuExactly) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator g(62);
  struct Case {
    Shape shape;
    std::int64_t d0, d1;
  };
  // 2-D and innermost swaps (tiled path, partial tiles), swaps with inner > 1, a middle dim between.
  const std::vector<Case> cases = {{{1, 1}, 0, 1},       {{33, 1025}, 0, 1},   {{31, 32}, -1, -2},
                                   {{7, 3, 5, 4}, 1, 3}, {{7, 3, 5, 4}, 0, 2}, {{2, 65, 3, 33}, 1, 3},
                                   {{129, 10, 3}, 0, 1}, {{4, 1, 6}, 0, 2},    {{3, 4, 5}, 1, 1}};
  for (DType dt : {DType::F32, DType::F64}) {
    for (const Case& c : cases) {
      const Tensor x = randn(c.shape, g, dt);
      const std::string what = std::string(dtype_name(dt)) + " " + shape_str(c.shape) + " (" + std::to_string(c.d0) +
                               ", " + std::to_string(c.d1) + ")";
      const Tensor xc = leaf_on(x, Device::cpu()), xd = leaf_on(x, kGpu);
      const Tensor yc = ops::transpose(xc, c.d0, c.d1), yd = ops::transpose(xd, c.d0, c.d1);
      ASSERT_EQ(yd.shape(), yc.shape()) << what;
      EXPECT_EQ(yd.to_vector<double>(), yc.to_vector<double>()) << what;
      const Tensor seed = randn(yc.shape(), g, dt);
      yc.backward(seed);
      yd.backward(seed.to(kGpu));
      EXPECT_EQ(xd.grad().to_vector<double>(), xc.grad().to_vector<double>()) << what << " backward";
    }
  }
}

TEST(CudaMisc, DropoutDrawsTheCpuMask) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator data(63);
  for (DType dt : {DType::F32, DType::F64}) {
    for (std::int64_t n : {1, 5, 1025, 100003}) {
      for (double p : {0.1, 0.5, 1.0}) {
        const std::string what = std::string(dtype_name(dt)) + " n " + std::to_string(n) + " p " + std::to_string(p);
        const Tensor x = randn({n}, data, dt), seed = randn({n}, data, dt);
        Generator gc(7), gd(7);
        gc.reserve(3), gd.reserve(3);  // start mid-stream
        const Tensor xc = leaf_on(x, Device::cpu()), xd = leaf_on(x, kGpu);
        const Tensor yc = ops::dropout(xc, p, true, gc), yd = ops::dropout(xd, p, true, gd);
        EXPECT_EQ(gd.offset(), gc.offset()) << what;
        EXPECT_EQ(yd.to_vector<double>(), yc.to_vector<double>()) << what;
        yc.backward(seed);
        yd.backward(seed.to(kGpu));
        EXPECT_EQ(xd.grad().to_vector<double>(), xc.grad().to_vector<double>()) << what << " backward";
        // Under no-grad no mask is kept; the output is the same.
        autograd::NoGradGuard guard;
        Generator gn(7);
        gn.reserve(3);
        EXPECT_EQ(ops::dropout(x.to(kGpu), p, true, gn).to_vector<double>(), yc.to_vector<double>()) << what;
      }
    }
  }
}

}  // namespace
}  // namespace kdcu
