// summary/summarize: record one forward, put the calls back in start order, format the table.
#include "nn/summary.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "core/autograd.h"
#include "core/factories.h"
#include "nn/summary_hook.h"

namespace kdcu {
namespace nn {
namespace {

// Restores every module's own train/eval flag (parents first, so children keep theirs).
class ModeGuard {
 public:
  explicit ModeGuard(Module& m) {
    for (const auto& [n, sub] : m.named_modules()) saved_.emplace_back(sub, sub->is_training());
  }
  ~ModeGuard() {
    for (const auto& [sub, on] : saved_) sub->train(on);
  }
  ModeGuard(const ModeGuard&) = delete;
  ModeGuard& operator=(const ModeGuard&) = delete;

 private:
  std::vector<std::pair<Module*, bool>> saved_;
};

std::int64_t own_parameters(const Module& m) {
  std::int64_t n = 0;
  for (const auto& [name, t] : m.named_parameters())
    if (name.find('.') == std::string::npos) n += t.numel();
  return n;
}

bool is_descendant(const std::string& name, const std::string& ancestor) {
  if (ancestor.empty()) return !name.empty();
  return name.size() > ancestor.size() && name.compare(0, ancestor.size(), ancestor) == 0 &&
         name[ancestor.size()] == '.';
}

DType input_dtype(const Module& m) {
  for (const auto& [n, t] : m.state_dict())
    if (is_floating(t.dtype())) return t.dtype();
  return DType::F32;
}

std::string pad(const std::string& s, size_t width, bool right) {
  if (s.size() >= width) return s;
  const std::string fill(width - s.size(), ' ');
  return right ? fill + s : s + fill;
}

}  // namespace

std::string thousands(double value) {
  const long long v = std::llround(value);
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

std::string si_units(double value) {
  const char* units[] = {"", "K", "M", "G", "T"};
  int u = 0;
  while (std::fabs(value) >= 1000.0 && u < 4) {
    value /= 1000.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.2f%s", value, units[u]);
  return buf;
}

SummaryTotals summarize(Module& m, const Shape& input_shape_per_image) {
  for (std::int64_t d : input_shape_per_image)
    require<ValueError>(d >= 1, "summary: expected a per-image input shape of extents >= 1, found ",
                        shape_str(input_shape_per_image));
  std::map<const Module*, std::string> names;
  for (const auto& [n, sub] : m.named_modules()) names.emplace(sub, n);  // first name of a shared module

  SummaryTotals totals;
  totals.input_shape = input_shape_per_image;
  totals.input_shape.insert(totals.input_shape.begin(), 1);
  std::vector<SummaryRecorder::Row> calls;
  {
    ModeGuard modes(m);
    m.eval();
    autograd::NoGradGuard no_grad;
    SummaryRecorder recorder;
    totals.output_shape = m(zeros(totals.input_shape, input_dtype(m), m.device())).shape();
    calls = recorder.rows();
  }

  // The recorder sees calls as they finish (children before their parent). A call's descendants
  // are the finished calls just before it whose names lie under its own, so moving each call in
  // front of that run restores the start order.
  std::vector<SummaryRow> rows;
  for (const SummaryRecorder::Row& call : calls) {
    SummaryRow row;
    const auto it = names.find(call.module);
    row.name = it != names.end() ? it->second : "?";
    row.type = call.module->type_name();
    row.depth = row.name.empty() ? 0 : 1 + static_cast<int>(std::count(row.name.begin(), row.name.end(), '.'));
    row.output_shape = call.out;
    row.parameters = own_parameters(*call.module);
    const double batch = call.in.empty() || call.in[0] == 0 ? 1.0 : static_cast<double>(call.in[0]);
    row.flops = call.module->flops(call.in, call.out) / batch;
    size_t first = rows.size();
    while (first > 0 && is_descendant(rows[first - 1].name, row.name)) --first;
    rows.insert(rows.begin() + static_cast<std::ptrdiff_t>(first), std::move(row));
  }
  totals.rows = std::move(rows);
  totals.parameters = m.num_parameters();
  for (const SummaryRow& r : totals.rows) totals.flops += r.flops;
  return totals;
}

std::string summary(Module& m, const Shape& input_shape_per_image) {
  const SummaryTotals t = summarize(m, input_shape_per_image);
  const auto* model = dynamic_cast<const Model*>(&m);
  const std::vector<std::string> head{"name", "type", "output shape", "params", "FLOPs"};
  std::vector<std::vector<std::string>> cells;
  for (const SummaryRow& r : t.rows) {
    const std::string indent(2 * static_cast<size_t>(std::max(0, r.depth - 1)), ' ');
    cells.push_back({r.name.empty() ? "(model)" : indent + r.name, r.type, shape_str(r.output_shape),
                     thousands(static_cast<double>(r.parameters)), thousands(r.flops)});
  }
  std::vector<size_t> width(head.size());
  for (size_t c = 0; c < head.size(); ++c) {
    width[c] = head[c].size();
    for (const auto& row : cells) width[c] = std::max(width[c], row[c].size());
  }
  std::ostringstream os;
  os << (model && !model->name().empty() ? model->name() + " (" + m.type_name() + ")" : m.type_name()) << ": input "
     << shape_str(t.input_shape) << " -> output " << shape_str(t.output_shape) << "\n";
  const auto line = [&](const std::vector<std::string>& row) {
    for (size_t c = 0; c < row.size(); ++c) os << (c ? "  " : "") << pad(row[c], width[c], c >= 3);
    os << "\n";
  };
  line(head);
  size_t total_width = 2 * (head.size() - 1);
  for (size_t w : width) total_width += w;
  os << std::string(total_width, '-') << "\n";
  for (const auto& row : cells) line(row);
  os << std::string(total_width, '-') << "\n";
  os << "parameters: " << thousands(static_cast<double>(t.parameters)) << " ("
     << si_units(static_cast<double>(t.parameters)) << ")\n";
  os << "FLOPs per image: " << thousands(t.flops) << " (" << si_units(t.flops) << " FLOPs)\n";
  return os.str();
}

SummaryTotals summarize(Model& m) {
  return summarize(m, m.input_shape());
}

std::string summary(Model& m) {
  return summary(m, m.input_shape());
}

}  // namespace nn
}  // namespace kdcu
