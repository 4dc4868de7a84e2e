// The pipeline's report: report.md (one table — accuracy, parameters, FLOPs, latency, training
// time — the KD gain over the baseline, the recipes) and curves.svg (test accuracy and test loss
// per epoch of the three runs, averaged over seeds), which any browser shows.
#pragma once

#include <string>
#include <vector>

#include "apps/stage.h"

namespace kdcu {
namespace app {

// One of the pipeline's runs (teacher, baseline, kd) over all seeds.
struct RunSeries {
  std::string name;                   // "teacher", "baseline", "kd"
  std::vector<StageResult> per_seed;  // one per seed, in seed order

  double mean_accuracy() const;
  double std_accuracy() const;  // sample standard deviation (0 for one seed)
  double mean_train_seconds() const;
};

struct ReportInput {
  std::string title = "kdcu pipeline";
  std::string date, commit, device, data;
  std::vector<std::uint64_t> seeds;
  std::string preset;
  RunSeries teacher, baseline, kd;
};

// Writes `dir`/report.md and `dir`/curves.svg; returns the report's text.
std::string write_report(const std::string& dir, const ReportInput& in);

// The SVG document of the curves (exposed for tests).
std::string curves_svg(const std::vector<const RunSeries*>& runs);

}  // namespace app
}  // namespace kdcu
