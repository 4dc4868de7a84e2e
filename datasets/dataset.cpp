// Dataset consistency checks, subsets and the seeded train/validation split.
#include "datasets/dataset.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "datasets/sampling.h"

namespace kdcu {
namespace datasets {

void Dataset::validate() const {
  const std::string who = cat("dataset '", name, "' (", source, ")");
  require<ValueError>(channels > 0 && height > 0 && width > 0, who, ": expected positive C, H, W, found ", channels,
                      "x", height, "x", width);
  const auto expected = static_cast<std::uint64_t>(size()) * static_cast<std::uint64_t>(image_numel());
  require<ValueError>(images.size() == expected, who, ": expected ", expected, " image bytes (", size(), " x ",
                      channels, "x", height, "x", width, "), found ", images.size());
  require<ValueError>(class_names.empty() || static_cast<std::int64_t>(class_names.size()) == num_classes, who, ": ",
                      class_names.size(), " class names for ", num_classes, " classes");
  for (std::int64_t i = 0; i < size(); ++i) {
    const std::int64_t l = labels[static_cast<size_t>(i)];
    require<ValueError>(l >= 0 && l < num_classes, who, ": sample ", i, " has label ", l, ", expected [0, ",
                        num_classes, ")");
  }
}

Dataset subset(const Dataset& d, const std::vector<std::int64_t>& indices, const std::string& name) {
  Dataset out;
  out.name = name;
  out.source = d.source;
  out.channels = d.channels;
  out.height = d.height;
  out.width = d.width;
  out.class_names = d.class_names;
  out.num_classes = d.num_classes;
  const auto bytes = static_cast<size_t>(d.image_numel());
  out.images.resize(indices.size() * bytes);
  out.labels.resize(indices.size());
  for (size_t k = 0; k < indices.size(); ++k) {
    const std::int64_t i = indices[k];
    require<ValueError>(i >= 0 && i < d.size(), "subset of '", d.name, "': index ", i, " is outside [0, ", d.size(),
                        ")");
    if (bytes) std::memcpy(out.images.data() + k * bytes, d.image(i), bytes);
    out.labels[k] = d.labels[static_cast<size_t>(i)];
  }
  return out;
}

TrainValSplit split_train_val(const Dataset& d, std::int64_t val_count, std::uint64_t seed) {
  require<ValueError>(val_count > 0 && val_count < d.size(), "split of '", d.name,
                      "': the validation count must be in (0, ", d.size(), "), found ", val_count);
  const std::vector<std::int64_t> perm = permutation(d.size(), seed, Stream::Split, 0);
  TrainValSplit s;
  s.val_indices.assign(perm.begin(), perm.begin() + val_count);
  s.train_indices.assign(perm.begin() + val_count, perm.end());
  std::sort(s.val_indices.begin(), s.val_indices.end());
  std::sort(s.train_indices.begin(), s.train_indices.end());
  s.train = subset(d, s.train_indices, d.name + "[train-split]");
  s.val = subset(d, s.val_indices, d.name + "[val-split]");
  return s;
}

TrainValSplit split_train_val(const Dataset& d, double val_fraction, std::uint64_t seed) {
  require<ValueError>(val_fraction > 0.0 && val_fraction < 1.0, "split of '", d.name,
                      "': the validation fraction must be in (0, 1), found ", val_fraction);
  const auto count = static_cast<std::int64_t>(std::llround(val_fraction * static_cast<double>(d.size())));
  return split_train_val(d, count, seed);
}

std::vector<std::int64_t> label_histogram(const Dataset& d) {
  std::vector<std::int64_t> h(static_cast<size_t>(std::max<std::int64_t>(d.num_classes, 0)), 0);
  for (std::int64_t l : d.labels)
    if (l >= 0 && l < d.num_classes) ++h[static_cast<size_t>(l)];
  return h;
}

}  // namespace datasets
}  // namespace kdcu
