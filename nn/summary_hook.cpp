#include "nn/summary_hook.h"

namespace kdcu {
namespace nn {
namespace {
thread_local SummaryRecorder* t_active = nullptr;
}

SummaryRecorder::SummaryRecorder() : previous_(t_active) {
  t_active = this;
}
SummaryRecorder::~SummaryRecorder() {
  t_active = previous_;
}
SummaryRecorder* SummaryRecorder::active() {
  return t_active;
}

}  // namespace nn
}  // namespace kdcu
