// Schedules over training progress p in [0, 1] for distillation hyper-parameters: a value moving from
// v0 (p = 0) to v1 (p = 1) along a constant, linear or cosine shape; a temperature schedule; and
// teacher annealing (the soft-target weight decaying towards 0). Plain functions of p, no state.
#pragma once

#include <string>

namespace kdcu {
namespace distill {

enum class ScheduleShape {
  Constant,  // v0 throughout (v1 is ignored)
  Linear,    // v0 + (v1 - v0) p
  Cosine,    // v1 + (v0 - v1) (1 + cos(pi p)) / 2: flat at both ends
};
const char* schedule_shape_name(ScheduleShape shape);         // "constant", "linear", "cosine"
ScheduleShape parse_schedule_shape(const std::string& name);  // the inverse; ValueError listing the accepted names

// The value at progress p, clamped into [0, 1] first; ValueError for a NaN progress.
double scheduled_value(double v0, double v1, ScheduleShape shape, double progress);

// The KD temperature from t0 (start) to t1 (end). at() throws ValueError unless t0 and t1 are
// finite and > 0 (and for a NaN progress).
struct TemperatureSchedule {
  double t0 = 4.0, t1 = 4.0;
  ScheduleShape shape = ScheduleShape::Constant;
  double at(double progress) const;
};

// Teacher annealing (as in Clark et al. 2019, "BAM! Born-Again Multi-Task Networks"): the soft-target
// weight goes from w0 at the start towards 0 at the end along `shape` (Constant keeps w0); disabled,
// soft_weight returns w0 whatever the progress.
struct TeacherAnnealing {
  bool enabled = false;
  ScheduleShape shape = ScheduleShape::Linear;
  double soft_weight(double w0, double progress) const;
};

}  // namespace distill
}  // namespace kdcu
