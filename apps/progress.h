// Progress output of a training run on stderr: on a terminal one line redrawn in place (epoch,
// bar, step, loss, images/s, ETA); otherwise plain lines, about ten per epoch. Epoch summaries
// and messages are always whole lines. Prefixed with the run's name ("teacher", "kd", ...).
#pragma once

#include <chrono>
#include <string>

#include "distill/trainer.h"

namespace kdcu {
namespace app {

class ProgressPrinter : public distill::TrainObserver {
 public:
  explicit ProgressPrinter(std::string run_name, bool quiet = false);
  void on_message(const std::string& line) override;
  void on_step(const distill::StepProgress& p) override;
  void on_epoch(const distill::EpochRecord& r) override;

 private:
  void end_bar();
  std::string name_;
  bool quiet_, tty_;
  bool bar_open_ = false;
  std::int64_t last_reported_step_ = 0;
  std::chrono::steady_clock::time_point last_draw_{};
};

// "1:05" / "1:02:03" for seconds.
std::string clock_text(double seconds);

}  // namespace app
}  // namespace kdcu
