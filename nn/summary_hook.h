// While a SummaryRecorder is alive on a thread, every Module::operator() call on that thread
// appends (module, input shape, output shape): `summary` runs one forward under a recorder to
// build its per-layer table. Nothing is recorded, and nothing costs anything, otherwise.
#pragma once

#include <vector>

#include "core/shape.h"

namespace kdcu {
namespace nn {

class Module;

class SummaryRecorder {
 public:
  struct Row {
    const Module* module;
    Shape in, out;
  };
  SummaryRecorder();
  ~SummaryRecorder();
  SummaryRecorder(const SummaryRecorder&) = delete;
  SummaryRecorder& operator=(const SummaryRecorder&) = delete;

  static SummaryRecorder* active();
  void record(const Module* module, const Shape& in, const Shape& out) { rows_.push_back({module, in, out}); }
  const std::vector<Row>& rows() const { return rows_; }

 private:
  SummaryRecorder* previous_;
  std::vector<Row> rows_;
};

}  // namespace nn
}  // namespace kdcu
