// Schedules: closed forms of the progress p (clamped into [0, 1]); names for the command line.
#include "distill/schedules.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace kdcu {
namespace distill {
namespace {

constexpr double kPi = 3.14159265358979323846;

}  // namespace

const char* schedule_shape_name(ScheduleShape shape) {
  switch (shape) {
    case ScheduleShape::Constant:
      return "constant";
    case ScheduleShape::Linear:
      return "linear";
    case ScheduleShape::Cosine:
      return "cosine";
  }
  return "?";
}

ScheduleShape parse_schedule_shape(const std::string& name) {
  for (ScheduleShape s : {ScheduleShape::Constant, ScheduleShape::Linear, ScheduleShape::Cosine})
    if (name == schedule_shape_name(s)) return s;
  throw ValueError(cat("unknown schedule shape '", name, "' (expected one of 'constant', 'linear', 'cosine')"));
}

double scheduled_value(double v0, double v1, ScheduleShape shape, double progress) {
  require<ValueError>(!std::isnan(progress), "scheduled_value: expected a progress in [0, 1], found nan");
  const double p = std::clamp(progress, 0.0, 1.0);
  switch (shape) {
    case ScheduleShape::Constant:
      return v0;
    case ScheduleShape::Linear:
      return v0 + (v1 - v0) * p;
    case ScheduleShape::Cosine:
      return v1 + (v0 - v1) * (1.0 + std::cos(kPi * p)) / 2.0;
  }
  return v0;
}

double TemperatureSchedule::at(double progress) const {
  require<ValueError>(std::isfinite(t0) && t0 > 0.0 && std::isfinite(t1) && t1 > 0.0,
                      "TemperatureSchedule: temperatures must be finite and > 0, found t0 = ", t0, ", t1 = ", t1);
  return scheduled_value(t0, t1, shape, progress);
}

double TeacherAnnealing::soft_weight(double w0, double progress) const {
  if (!enabled) return w0;
  return scheduled_value(w0, 0.0, shape, progress);
}

}  // namespace distill
}  // namespace kdcu
