// Progress bar / plain progress lines for training runs.
#include "apps/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace kdcu {
namespace app {

std::string clock_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  const long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  }
  return buf;
}

namespace {
// ", run 12:34" while later epochs remain: the whole run's training time left.
std::string run_eta(const distill::StepProgress& p) {
  return p.epoch < p.epochs ? ", run " + clock_text(p.run_eta_seconds) : std::string();
}
}  // namespace

ProgressPrinter::ProgressPrinter(std::string run_name, bool quiet)
    : name_(std::move(run_name)), quiet_(quiet), tty_(isatty(STDERR_FILENO) == 1) {}

void ProgressPrinter::end_bar() {
  if (bar_open_) std::fputs("\n", stderr);
  bar_open_ = false;
}

void ProgressPrinter::on_message(const std::string& line) {
  end_bar();
  std::fprintf(stderr, "[%s] %s\n", name_.c_str(), line.c_str());
}

namespace {
// The running loss, or "-" before the trainer has read any (CUDA reads every few steps).
std::string loss_text(double loss) {
  if (std::isnan(loss)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4f", loss);
  return buf;
}
}  // namespace

void ProgressPrinter::on_step(const distill::StepProgress& p) {
  if (quiet_) return;
  if (tty_) {
    const auto now = std::chrono::steady_clock::now();
    if (p.step != p.steps && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(kWidth * p.step / std::max<std::int64_t>(p.steps, 1));
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "\r\033[K[%s] epoch %lld/%lld [%s] %lld/%lld loss %s %.0f img/s ETA %s%s", name_.c_str(),
                 static_cast<long long>(p.epoch), static_cast<long long>(p.epochs), bar.c_str(),
                 static_cast<long long>(p.step), static_cast<long long>(p.steps), loss_text(p.loss).c_str(),
                 p.images_per_second,
                 clock_text(p.eta_seconds).c_str(), run_eta(p).c_str());
    bar_open_ = true;
    return;
  }
  // Not a terminal: about ten lines per epoch.
  const std::int64_t every = std::max<std::int64_t>(p.steps / 10, 1);
  if (p.step % every != 0 && p.step != p.steps) return;
  if (p.step == last_reported_step_) return;
  last_reported_step_ = p.step == p.steps ? 0 : p.step;
  std::fprintf(stderr, "[%s] epoch %lld/%lld step %lld/%lld loss %s %.0f img/s ETA %s%s\n", name_.c_str(),
               static_cast<long long>(p.epoch), static_cast<long long>(p.epochs), static_cast<long long>(p.step),
               static_cast<long long>(p.steps), loss_text(p.loss).c_str(), p.images_per_second,
               clock_text(p.eta_seconds).c_str(),
               run_eta(p).c_str());
}

void ProgressPrinter::on_epoch(const distill::EpochRecord& r) {
  end_bar();
  std::string terms;
  for (const auto& [n, v] : r.train_terms) {
    char buf[96];
    std::snprintf(buf, sizeof buf, " %s %.4f", n.c_str(), v);
    terms += buf;
  }
  std::fprintf(stderr,
               "[%s] epoch %lld: train loss %.4f (%s ) acc %.2f%% | test acc %.2f%% loss %.4f | lr %.3g | %.0f img/s, %s\n",
               name_.c_str(), static_cast<long long>(r.epoch), r.train_loss, terms.c_str(), r.train_accuracy * 100.0,
               r.eval_accuracy * 100.0,
               r.eval_loss, r.lr, r.images_per_second, clock_text(r.train_seconds + r.eval_seconds).c_str());
}

}  // namespace app
}  // namespace kdcu
