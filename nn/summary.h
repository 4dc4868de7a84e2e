// summary: one forward of a single all-zeros image under no-grad in eval mode, recorded by a
// SummaryRecorder, turned into a per-call table (dotted name, type, output shape, own parameters,
// FLOPs per image) and totals. FLOPs follow Module::flops: a multiply-add is 2, conv and linear
// count their dot products (+ bias), BatchNorm, ReLU and the residual add one per element, pools
// one per window element read; containers and views (Sequential, Flatten) count 0.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/model.h"

namespace kdcu {
namespace nn {

struct SummaryRow {
  std::string name;  // dotted module name; "" for the module summary was called on
  std::string type;  // Module::type_name(), e.g. "Conv2d"
  int depth = 0;     // 0 for the root, 1 for its children, ...
  Shape output_shape;
  std::int64_t parameters = 0;  // the module's own (not its children's)
  double flops = 0.0;           // the module's own work for one image
};

struct SummaryTotals {
  // One per module call, in the order the calls began (a container before its children); a
  // module called twice (a shared ReLU) has two rows.
  std::vector<SummaryRow> rows;
  Shape input_shape, output_shape;  // with the batch dim (1)
  std::int64_t parameters = 0;      // num_parameters() of the module
  double flops = 0.0;               // per image: the sum over the rows
};

// `input_shape_per_image` excludes the batch dim, e.g. {1, 28, 28}. The zeros have the dtype of
// the module's first floating parameter (f32 when there is none) and its device. The module's
// train/eval modes are restored afterwards, and BN running statistics are not touched (eval).
SummaryTotals summarize(Module& m, const Shape& input_shape_per_image);
std::string summary(Module& m, const Shape& input_shape_per_image);
// The same with the model's own input shape (config: in_channels, image_size, image_size).
SummaryTotals summarize(Model& m);
std::string summary(Model& m);

// "1,234,567" (rounded to an integer) and "1.23M" / "4.56G" (two decimals past a K/M/G/T), for
// tables and reports.
std::string thousands(double value);
std::string si_units(double value);

}  // namespace nn
}  // namespace kdcu
