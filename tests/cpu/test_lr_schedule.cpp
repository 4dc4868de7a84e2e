// LR schedules: values at many steps against PyTorch 1.13's schedulers and the closed forms,
// composition (warmup, sequential), applying a schedule to an optimizer, argument errors.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "core/factories.h"
#include "nn/lr_schedule.h"
#include "nn/optim.h"
#include "tests/support/checks.h"

namespace kdcu {
namespace {

using testing::all_close;
using testing::throws_with;

constexpr double kPi = 3.14159265358979323846;

// lr_at(0), ..., lr_at(n - 1) as an f64 tensor, to compare with the one tolerance formula.
Tensor lrs(const nn::LrSchedule& s, int n) {
  std::vector<double> out;
  for (int k = 0; k < n; ++k) out.push_back(s.lr_at(k));
  return from_vector<double>(out);
}

Tensor f64(const std::vector<double>& v) {
  return from_vector<double>(v);
}

// The reference lists below are optimizer.param_groups[0]['lr'] before each of n pairs of
// opt.step(); scheduler.step(), from PyTorch 1.13 (Debian's python3-torch), SGD(lr=0.1) unless said.

TEST(LrSchedule, StepLRMatchesPyTorch) {
  // StepLR(opt, step_size=3, gamma=0.5)
  EXPECT_TRUE(
      all_close(lrs(nn::StepLR(0.1, 3, 0.5), 10), f64({0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125})));
  EXPECT_DOUBLE_EQ(nn::StepLR(0.1, 30).lr_at(95), 0.1 * 1e-3);  // default gamma 0.1
}

TEST(LrSchedule, MultiStepLRMatchesPyTorchWithARepeatedMilestone) {
  // MultiStepLR(opt, milestones=[2, 5, 5, 8], gamma=0.1): the repeated 5 applies gamma twice.
  const Tensor torch =
      f64({0.1, 0.1, 0.010000000000000002, 0.010000000000000002, 0.010000000000000002, 0.00010000000000000005,
           0.00010000000000000005, 0.00010000000000000005, 1.0000000000000006e-05, 1.0000000000000006e-05});
  EXPECT_TRUE(all_close(lrs(nn::MultiStepLR(0.1, {2, 5, 5, 8}, 0.1), 10), torch));
  EXPECT_TRUE(all_close(lrs(nn::MultiStepLR(0.1, {8, 5, 2, 5}, 0.1), 10), torch));  // any order
  EXPECT_EQ(nn::MultiStepLR(0.1, {}, 0.1).lr_at(1000), 0.1);
}

TEST(LrSchedule, CosineAnnealingMatchesPyTorchThenStaysAtTheMinimum) {
  // CosineAnnealingLR(opt, T_max=10, eta_min=0.001), steps 0..10.
  const nn::CosineAnnealingLR cos(0.1, 10, 0.001);
  EXPECT_TRUE(all_close(lrs(cos, 11), f64({0.1, 0.09757729755661011, 0.0905463412215599, 0.07959536998847742,
                                           0.0657963412215599, 0.0505, 0.03520365877844011, 0.02140463001152259,
                                           0.010453658778440109, 0.0034227024433899004, 0.001})));
  EXPECT_EQ(cos.lr_at(11), 0.001);
  EXPECT_EQ(cos.lr_at(25), 0.001);
  // The closed form at a step of its own.
  const nn::CosineAnnealingLR plain(2.0, 7);
  EXPECT_TRUE(all_close(f64({plain.lr_at(3)}), f64({(1 + std::cos(kPi * 3 / 7))})));
}

TEST(LrSchedule, OneCycleMatchesPyTorch) {
  // OneCycleLR(opt, max_lr=0.1, total_steps=20, cycle_momentum=False): defaults pct_start 0.3,
  // div_factor 25, final_div_factor 1e4, cosine annealing.
  const nn::OneCycleLR one(0.1, 20);
  EXPECT_TRUE(all_close(lrs(one, 20), f64({0.0040000000000000036,
                                           0.013167184270002533,
                                           0.037167184270002526,
                                           0.06683281572999747,
                                           0.09083281572999748,
                                           0.1,
                                           0.09874640062350874,
                                           0.09504846320134738,
                                           0.089091617757105,
                                           0.0811745653949763,
                                           0.07169430017913009,
                                           0.06112620219362893,
                                           0.0500002,
                                           0.03887419780637107,
                                           0.028306099820869922,
                                           0.0188258346050237,
                                           0.010908782242895003,
                                           0.004951936798652629,
                                           0.0012539993764912555,
                                           4e-07})));
  // OneCycleLR(opt, max_lr=1.0, total_steps=7, pct_start=0.5, div_factor=10, final_div_factor=100,
  // cycle_momentum=False): the warm-up phase ends between steps (at 2.5).
  const nn::OneCycleLR odd(1.0, 7, 0.5, 10.0, 100.0);
  EXPECT_TRUE(all_close(lrs(odd, 7), f64({0.09999999999999998, 0.41094235253127365, 0.9140576474687263,
                                          0.9505339495172583, 0.611649206511179, 0.18906684397156262, 0.001})));
  // Past the end: the final lr (PyTorch raises).
  EXPECT_DOUBLE_EQ(one.lr_at(20), 4e-7);
  EXPECT_DOUBLE_EQ(one.lr_at(500), 4e-7);
}

TEST(LrSchedule, LinearWarmupMatchesPyTorchsSequentialOfLinearLRAndTheInnerSchedule) {
  // SequentialLR(opt, [LinearLR(opt, start_factor=0.25, total_iters=4), StepLR(opt, 2, 0.5)], milestones=[4])
  const Tensor torch =
      f64({0.025, 0.043750000000000004, 0.06250000000000001, 0.08125000000000002, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025});
  const auto step = std::make_shared<nn::StepLR>(0.1, 2, 0.5);
  EXPECT_TRUE(all_close(lrs(nn::LinearWarmupLR(step, 4, 0.25), 10), torch));
  // The same through SequentialLR with a warm-up written as its own schedule.
  struct Ramp : nn::LrSchedule {
    double lr_at(std::int64_t k) const override { return 0.1 * (0.25 + 0.75 * static_cast<double>(k) / 4.0); }
    std::string describe() const override { return "Ramp"; }
  };
  EXPECT_TRUE(all_close(lrs(nn::SequentialLR({std::make_shared<Ramp>(), step}, {4}), 10), torch));
  // From 0, and no warm-up at all.
  const auto cos = std::make_shared<nn::CosineAnnealingLR>(1.0, 10);
  const nn::LinearWarmupLR from_zero(cos, 5, 0.0);
  EXPECT_EQ(from_zero.lr_at(0), 0.0);
  EXPECT_DOUBLE_EQ(from_zero.lr_at(2), 0.4);
  EXPECT_EQ(from_zero.lr_at(5), 1.0);  // the inner schedule's step 0
  EXPECT_EQ(from_zero.lr_at(9), cos->lr_at(4));
  EXPECT_EQ(nn::LinearWarmupLR(cos, 0, 0.5).lr_at(3), cos->lr_at(3));
}

TEST(LrSchedule, SequentialSwitchesAtTheMilestonesAndRestartsEachSchedule) {
  const nn::SequentialLR seq({std::make_shared<nn::ConstantLR>(0.5), std::make_shared<nn::StepLR>(1.0, 1, 0.5),
                              std::make_shared<nn::ConstantLR>(0.01)},
                             {3, 6});
  EXPECT_TRUE(all_close(lrs(seq, 9), f64({0.5, 0.5, 0.5, 1.0, 0.5, 0.25, 0.01, 0.01, 0.01})));
  EXPECT_EQ(seq.describe(),
            "SequentialLR(ConstantLR(lr=0.5) until 3, StepLR(base_lr=1, step_size=1, gamma=0.5) until 6, "
            "ConstantLR(lr=0.01))");
}

TEST(LrSchedule, ApplySetsTheOptimizersLrAtItsStepCount) {
  Tensor p = from_vector<double>({1.0});
  p.requires_grad_();
  nn::SGD opt({{"p", p}}, 1.0);
  const nn::StepLR sched(0.1, 2, 0.5);
  std::vector<double> used;
  for (int k = 0; k < 5; ++k) {
    nn::apply_schedule(opt, sched);
    used.push_back(opt.lr());
    p.set_grad(from_vector<double>({1.0}));
    opt.step();
  }
  EXPECT_TRUE(all_close(f64(used), f64({0.1, 0.1, 0.05, 0.05, 0.025})));
  nn::apply_schedule(opt, sched, 0);
  EXPECT_EQ(opt.lr(), 0.1);
  // The updates used those rates: p = 1 - sum(lr).
  EXPECT_TRUE(all_close(p, f64({1.0 - 0.325})));
}

TEST(LrSchedule, DescribeNamesEveryArgument) {
  EXPECT_EQ(nn::StepLR(0.1, 30, 0.1).describe(), "StepLR(base_lr=0.1, step_size=30, gamma=0.1)");
  EXPECT_EQ(nn::MultiStepLR(0.1, {5, 2}, 0.5).describe(), "MultiStepLR(base_lr=0.1, milestones=[2, 5], gamma=0.5)");
  EXPECT_EQ(nn::CosineAnnealingLR(0.1, 100, 1e-5).describe(),
            "CosineAnnealingLR(base_lr=0.1, total_steps=100, min_lr=1e-05)");
  EXPECT_EQ(nn::OneCycleLR(0.1, 100).describe(),
            "OneCycleLR(max_lr=0.1, total_steps=100, pct_start=0.3, div_factor=25, final_div_factor=10000)");
  EXPECT_EQ(nn::LinearWarmupLR(std::make_shared<nn::ConstantLR>(0.1), 5, 0.1).describe(),
            "LinearWarmupLR(warmup_steps=5, start_factor=0.1, then ConstantLR(lr=0.1))");
}

TEST(LrSchedule, InvalidArgumentsNameTheValue) {
  const auto c = std::make_shared<nn::ConstantLR>(0.1);
  EXPECT_TRUE(throws_with<ValueError>([] { nn::ConstantLR(-1.0); }, "ConstantLR: invalid lr -1"));
  EXPECT_TRUE(throws_with<ValueError>([] { nn::StepLR(0.1, 0); }, "StepLR: invalid step_size 0 (expected > 0)"));
  EXPECT_TRUE(throws_with<ValueError>([] { nn::StepLR(0.1, 3, -0.5); }, "StepLR: invalid gamma -0.5"));
  EXPECT_TRUE(throws_with<ValueError>([] { nn::MultiStepLR(0.1, {3, -2}); }, "MultiStepLR: invalid milestone -2"));
  EXPECT_TRUE(throws_with<ValueError>([] { nn::CosineAnnealingLR(0.1, 0); }, "invalid total_steps 0"));
  EXPECT_TRUE(throws_with<ValueError>([] { nn::CosineAnnealingLR(0.1, 10, -1e-3); }, "invalid min_lr -0.001"));
  EXPECT_TRUE(throws_with<ValueError>([] { nn::OneCycleLR(0.1, 10, 1.5); }, "OneCycleLR: invalid pct_start 1.5"));
  EXPECT_TRUE(throws_with<ValueError>([] { nn::OneCycleLR(0.1, 10, 0.3, 0.0); }, "invalid div_factor 0"));
  EXPECT_TRUE(throws_with<ValueError>([] { nn::OneCycleLR(0.1, 10, 0.3, 25, -1); }, "invalid final_div_factor -1"));
  EXPECT_TRUE(throws_with<ValueError>([] { nn::OneCycleLR(0.1, -5); }, "invalid total_steps -5"));
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::LinearWarmupLR(c, 5, 1.5); }, "invalid start_factor 1.5"));
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::LinearWarmupLR(c, -1, 0.5); }, "invalid warmup_steps -1"));
  EXPECT_TRUE(throws_with<ValueError>([] { nn::LinearWarmupLR(nullptr, 5, 0.5); }, "inner schedule is null"));
  EXPECT_TRUE(throws_with<ValueError>(
      [&] {
        nn::SequentialLR({c, c}, {});
      },
      "2 schedules and 0 milestones (expected one more schedule than milestones)"));
  EXPECT_TRUE(throws_with<ValueError>(
      [&] {
        nn::SequentialLR({c, c, c}, {5, 5});
      },
      "invalid milestone 5 (expected > 5"));
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::SequentialLR({c, c}, {0}); }, "invalid milestone 0 (expected > 0"));
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::SequentialLR({c, nullptr}, {3}); }, "schedule 1 is null"));
  EXPECT_TRUE(throws_with<ValueError>([&] { c->lr_at(-1); }, "ConstantLR: invalid step -1"));
  EXPECT_TRUE(throws_with<ValueError>([] { nn::OneCycleLR(0.1, 10).lr_at(-3); }, "OneCycleLR: invalid step -3"));
}

}  // namespace
}  // namespace kdcu
