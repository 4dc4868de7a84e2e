// report.md and curves.svg of the pipeline.
#include "apps/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "apps/progress.h"
#include "datasets/file_io.h"
#include "nn/summary.h"

namespace kdcu {
namespace app {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

double mean(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

double sample_std(const std::vector<double>& v) {
  if (v.size() < 2) return 0.0;
  const double m = mean(v);
  double s = 0.0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

std::vector<double> accuracies(const RunSeries& r) {
  std::vector<double> a;
  for (const StageResult& s : r.per_seed) a.push_back(s.train.final_eval.accuracy);
  return a;
}

// Per-epoch mean over seeds of one field of the history.
std::vector<double> mean_curve(const RunSeries& r, double distill::EpochRecord::*field) {
  std::vector<double> sum;
  std::vector<int> count;
  for (const StageResult& s : r.per_seed) {
    const auto& h = s.train.history;
    if (sum.size() < h.size()) {
      sum.resize(h.size(), 0.0);
      count.resize(h.size(), 0);
    }
    for (size_t e = 0; e < h.size(); ++e) {
      sum[e] += h[e].*field;
      ++count[e];
    }
  }
  for (size_t e = 0; e < sum.size(); ++e) sum[e] /= count[e];
  return sum;
}

std::string accuracy_cell(const RunSeries& r) {
  const std::vector<double> a = accuracies(r);
  std::string s = fmt("%.2f%%", mean(a) * 100.0);
  if (a.size() > 1) s += fmt(" ± %.2f", sample_std(a) * 100.0);
  return s;
}

// "Nice" tick values covering [lo, hi].
std::vector<double> ticks(double lo, double hi, int target = 5) {
  const double span = std::max(hi - lo, 1e-12);
  const double raw = span / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) t.push_back(v);
  return t;
}

struct Panel {
  double x0, y0, w, h;  // plot area in pixels
  double xmax, ylo, yhi;
  double px(double epoch) const { return x0 + (xmax <= 1 ? w / 2 : (epoch - 1) / (xmax - 1) * w); }
  double py(double v) const { return y0 + h - (v - ylo) / std::max(yhi - ylo, 1e-12) * h; }
};

void draw_panel(std::ostringstream& svg, const Panel& p, const std::string& title, const std::string& unit,
                const std::vector<std::pair<std::string, std::vector<double>>>& lines, const char* const* colors) {
  svg << "<text x='" << p.x0 + p.w / 2 << "' y='" << p.y0 - 12 << "' text-anchor='middle' font-size='14'>" << title
      << "</text>\n";
  for (double t : ticks(p.ylo, p.yhi)) {
    svg << "<line x1='" << p.x0 << "' x2='" << p.x0 + p.w << "' y1='" << p.py(t) << "' y2='" << p.py(t)
        << "' stroke='#ddd'/>\n<text x='" << p.x0 - 6 << "' y='" << p.py(t) + 4 << "' text-anchor='end' font-size='11'>"
        << fmt(unit == "%" ? "%.1f" : "%.3g", t) << "</text>\n";
  }
  for (double e : ticks(1, p.xmax, 6)) {
    if (std::fabs(e - std::round(e)) > 1e-9) continue;
    svg << "<text x='" << p.px(e) << "' y='" << p.y0 + p.h + 16 << "' text-anchor='middle' font-size='11'>" << e
        << "</text>\n";
  }
  svg << "<rect x='" << p.x0 << "' y='" << p.y0 << "' width='" << p.w << "' height='" << p.h
      << "' fill='none' stroke='#444'/>\n<text x='" << p.x0 + p.w / 2 << "' y='" << p.y0 + p.h + 34
      << "' text-anchor='middle' font-size='12'>epoch</text>\n";
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& ys = lines[i].second;
    svg << "<polyline fill='none' stroke='" << colors[i] << "' stroke-width='2' points='";
    for (size_t e = 0; e < ys.size(); ++e) svg << p.px(static_cast<double>(e + 1)) << "," << p.py(ys[e]) << " ";
    svg << "'/>\n";
    for (size_t e = 0; e < ys.size(); ++e)
      svg << "<circle cx='" << p.px(static_cast<double>(e + 1)) << "' cy='" << p.py(ys[e]) << "' r='3' fill='"
          << colors[i] << "'/>\n";
  }
}

}  // namespace

double RunSeries::mean_accuracy() const {
  return mean(accuracies(*this));
}
double RunSeries::std_accuracy() const {
  return sample_std(accuracies(*this));
}
double RunSeries::mean_train_seconds() const {
  std::vector<double> t;
  for (const StageResult& s : per_seed) t.push_back(s.train.train_seconds);
  return mean(t);
}

std::string curves_svg(const std::vector<const RunSeries*>& runs) {
  static const char* const kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"};
  std::vector<std::pair<std::string, std::vector<double>>> acc, loss;
  double xmax = 1, alo = 1e9, ahi = -1e9, lhi = 0;
  for (const RunSeries* r : runs) {
    std::vector<double> a = mean_curve(*r, &distill::EpochRecord::eval_accuracy);
    for (double& v : a) v *= 100.0;
    const std::vector<double> l = mean_curve(*r, &distill::EpochRecord::eval_loss);
    xmax = std::max(xmax, static_cast<double>(a.size()));
    for (double v : a) alo = std::min(alo, v), ahi = std::max(ahi, v);
    for (double v : l) lhi = std::max(lhi, v);
    acc.emplace_back(r->name, a);
    loss.emplace_back(r->name, l);
  }
  if (alo > ahi) alo = 0, ahi = 100;
  const double pad = std::max((ahi - alo) * 0.08, 0.2);
  std::ostringstream svg;
  svg << "<?xml version='1.0' encoding='UTF-8'?>\n"
      << "<svg xmlns='http://www.w3.org/2000/svg' width='980' height='400' viewBox='0 0 980 400' "
         "font-family='sans-serif'>\n<rect width='980' height='400' fill='white'/>\n";
  draw_panel(svg, Panel{70, 40, 380, 280, xmax, std::max(0.0, alo - pad), std::min(100.0, ahi + pad)},
             "test accuracy (%)", "%", acc, kColors);
  draw_panel(svg, Panel{560, 40, 380, 280, xmax, 0.0, lhi > 0 ? lhi * 1.08 : 1.0}, "test loss (cross-entropy)", "",
             loss, kColors);
  for (size_t i = 0; i < runs.size(); ++i) {
    const double x = 70 + 150 * static_cast<double>(i);
    svg << "<line x1='" << x << "' x2='" << x + 24 << "' y1='382' y2='382' stroke='" << kColors[i]
        << "' stroke-width='3'/><text x='" << x + 30 << "' y='386' font-size='12'>" << runs[i]->name << "</text>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

std::string write_report(const std::string& dir, const ReportInput& in) {
  const RunSeries* runs[] = {&in.teacher, &in.baseline, &in.kd};
  std::ostringstream md;
  md << "# " << in.title << "\n\n";
  md << "- date: " << in.date << "\n- commit: " << in.commit << "\n- device: " << in.device << "\n- data: " << in.data
     << "\n- preset: " << in.preset << "\n- seeds: ";
  for (size_t i = 0; i < in.seeds.size(); ++i) md << (i ? ", " : "") << in.seeds[i];
  md << "\n\n";
  const bool several = in.seeds.size() > 1;
  md << "| run | model | test accuracy" << (several ? " (mean ± sd)" : "")
     << " | parameters | FLOPs / image | latency, batch 1 | latency / image, batch 256 | training time |\n"
     << "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (const RunSeries* r : runs) {
    const ModelFacts& f = r->per_seed.front().facts;
    md << "| " << r->name << " | " << f.model << " | " << accuracy_cell(*r) << " | " << nn::thousands(f.params) << " | "
       << nn::si_units(f.flops) << " | "
       << (f.latency_b1.runs ? fmt("%.3f ms", f.latency_b1.ms_per_batch) : std::string("-")) << " | "
       << (f.latency_b256.runs ? fmt("%.4f ms", f.latency_b256.ms_per_image) : std::string("-")) << " | "
       << clock_text(r->mean_train_seconds()) << " |\n";
  }
  std::vector<double> gains;
  for (size_t i = 0; i < in.kd.per_seed.size() && i < in.baseline.per_seed.size(); ++i)
    gains.push_back((in.kd.per_seed[i].train.final_eval.accuracy - in.baseline.per_seed[i].train.final_eval.accuracy) *
                    100.0);
  const double gain = mean(gains);
  md << "\n**Distillation " << (gain > 0 ? "gained" : "did not help:") << " " << fmt("%+.2f", gain)
     << " points** of test accuracy over the baseline student trained with the same recipe and seed";
  if (several) {
    md << " (mean over " << gains.size() << " seeds, sd " << fmt("%.2f", sample_std(gains)) << "; per seed:";
    for (double g : gains) md << " " << fmt("%+.2f", g);
    md << ")";
  }
  md << ".\n";
  const ModelFacts& t = in.teacher.per_seed.front().facts;
  const ModelFacts& s = in.kd.per_seed.front().facts;
  md << "The student has " << fmt("%.1f", static_cast<double>(t.params) / std::max<std::int64_t>(s.params, 1))
     << "x fewer parameters and needs " << fmt("%.1f", t.flops / std::max(s.flops, 1.0))
     << "x fewer FLOPs per image than the teacher";
  if (t.latency_b1.runs && s.latency_b1.runs)
    md << "; it is " << fmt("%.1f", t.latency_b1.ms_per_batch / s.latency_b1.ms_per_batch) << "x faster at batch 1 and "
       << fmt("%.1f", t.latency_b256.ms_per_image / s.latency_b256.ms_per_image) << "x at batch 256";
  md << ".\n\nTest accuracy is the model after its last epoch (not the best epoch: choosing by the test set would "
        "flatter it). Latency is the median forward time in eval mode on the device above. Training time includes "
        "building the soft-label cache (running the teacher once over the training set).\n\n";
  md << "![test accuracy and loss per epoch](curves.svg)\n\n## Recipes\n\n";
  for (const RunSeries* r : runs)
    md << "- " << r->name << " (" << r->per_seed.front().facts.model << "): loss " << r->per_seed.front().loss << "; "
       << r->per_seed.front().recipe << "\n";
  md << "\nEach run's directory (`teacher/`, `baseline/`, `kd/`" << (several ? " under `seed<N>/`" : "")
     << ") holds its weights (`last.safetensors`, `best.safetensors`), a resumable `checkpoint.safetensors`, "
        "`metrics.jsonl` / `metrics.csv` and its resolved `config.toml` and `run.json`.\n";
  const std::string text = md.str();
  datasets::write_file_atomic(datasets::join_path(dir, "report.md"), text.data(), text.size());
  const std::string svg = curves_svg({&in.teacher, &in.baseline, &in.kd});
  datasets::write_file_atomic(datasets::join_path(dir, "curves.svg"), svg.data(), svg.size());
  return text;
}

}  // namespace app
}  // namespace kdcu
