// distill schedules: constant/linear/cosine values at the ends, the middle and a quarter, clamping
// of the progress, name round trips and errors, the temperature schedule and teacher annealing.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/factories.h"
#include "distill/schedules.h"
#include "tests/support/checks.h"

namespace kdcu {
namespace {

using distill::ScheduleShape;
using testing::throws_with;

::testing::AssertionResult close(double actual, double expected) {
  return testing::all_close(scalar(actual, DType::F64), scalar(expected, DType::F64));
}

const double kPi = std::acos(-1.0);

TEST(DistillSchedule, ValuesAtEndsMiddleAndQuarter) {
  const double v0 = 8.0, v1 = 2.0;
  for (ScheduleShape s : {ScheduleShape::Linear, ScheduleShape::Cosine}) {
    EXPECT_TRUE(close(distill::scheduled_value(v0, v1, s, 0.0), v0)) << distill::schedule_shape_name(s);
    EXPECT_TRUE(close(distill::scheduled_value(v0, v1, s, 1.0), v1)) << distill::schedule_shape_name(s);
    EXPECT_TRUE(close(distill::scheduled_value(v0, v1, s, 0.5), 5.0)) << distill::schedule_shape_name(s);
  }
  EXPECT_TRUE(close(distill::scheduled_value(v0, v1, ScheduleShape::Linear, 0.25), 6.5));
  EXPECT_TRUE(close(distill::scheduled_value(v0, v1, ScheduleShape::Cosine, 0.25),
                    v1 + (v0 - v1) * (1.0 + std::cos(kPi / 4)) / 2.0));
  for (double p : {0.0, 0.3, 1.0}) EXPECT_EQ(distill::scheduled_value(v0, v1, ScheduleShape::Constant, p), v0);
  // Rising schedules work the same way.
  EXPECT_TRUE(close(distill::scheduled_value(1.0, 3.0, ScheduleShape::Linear, 0.75), 2.5));
}

TEST(DistillSchedule, ProgressIsClamped) {
  for (ScheduleShape s : {ScheduleShape::Constant, ScheduleShape::Linear, ScheduleShape::Cosine}) {
    EXPECT_EQ(distill::scheduled_value(8.0, 2.0, s, -0.5), distill::scheduled_value(8.0, 2.0, s, 0.0));
    EXPECT_EQ(distill::scheduled_value(8.0, 2.0, s, 3.0), distill::scheduled_value(8.0, 2.0, s, 1.0));
    EXPECT_EQ(distill::scheduled_value(8.0, 2.0, s, std::numeric_limits<double>::infinity()),
              distill::scheduled_value(8.0, 2.0, s, 1.0));
  }
  EXPECT_TRUE(throws_with<ValueError>(
      [] { distill::scheduled_value(1.0, 2.0, ScheduleShape::Linear, std::numeric_limits<double>::quiet_NaN()); },
      "scheduled_value: expected a progress in [0, 1], found nan"));
}

TEST(DistillSchedule, NamesRoundTrip) {
  for (ScheduleShape s : {ScheduleShape::Constant, ScheduleShape::Linear, ScheduleShape::Cosine})
    EXPECT_EQ(distill::parse_schedule_shape(distill::schedule_shape_name(s)), s);
  EXPECT_EQ(distill::parse_schedule_shape("cosine"), ScheduleShape::Cosine);
  EXPECT_TRUE(
      throws_with<ValueError>([] { distill::parse_schedule_shape("step"); },
                              "unknown schedule shape 'step' (expected one of 'constant', 'linear', 'cosine')"));
}

TEST(DistillSchedule, Temperature) {
  const distill::TemperatureSchedule fixed;  // 4 throughout
  EXPECT_EQ(fixed.at(0.0), 4.0);
  EXPECT_EQ(fixed.at(0.7), 4.0);
  const distill::TemperatureSchedule falling{8.0, 2.0, ScheduleShape::Linear};
  EXPECT_TRUE(close(falling.at(0.5), 5.0));
  EXPECT_TRUE(close(falling.at(1.0), 2.0));
  const distill::TemperatureSchedule bad{4.0, 0.0, ScheduleShape::Linear};
  EXPECT_TRUE(throws_with<ValueError>(
      [&] { bad.at(0.5); }, "TemperatureSchedule: temperatures must be finite and > 0, found t0 = 4, t1 = 0"));
}

TEST(DistillSchedule, TeacherAnnealing) {
  const distill::TeacherAnnealing off;
  EXPECT_EQ(off.soft_weight(0.9, 0.0), 0.9);
  EXPECT_EQ(off.soft_weight(0.9, 1.0), 0.9) << "disabled keeps w0";
  const distill::TeacherAnnealing linear{true, ScheduleShape::Linear};
  EXPECT_TRUE(close(linear.soft_weight(0.8, 0.0), 0.8));
  EXPECT_TRUE(close(linear.soft_weight(0.8, 0.25), 0.6));
  EXPECT_TRUE(close(linear.soft_weight(0.8, 1.0), 0.0));
  const distill::TeacherAnnealing cosine{true, ScheduleShape::Cosine};
  EXPECT_TRUE(close(cosine.soft_weight(0.8, 0.5), 0.4));
  EXPECT_TRUE(close(cosine.soft_weight(0.8, 1.0), 0.0));
  EXPECT_GT(cosine.soft_weight(0.8, 0.25), linear.soft_weight(0.8, 0.25)) << "cosine stays high early";
  const distill::TeacherAnnealing constant{true, ScheduleShape::Constant};
  EXPECT_EQ(constant.soft_weight(0.8, 0.9), 0.8);
}

}  // namespace
}  // namespace kdcu
