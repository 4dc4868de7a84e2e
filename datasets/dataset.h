// A labelled image data set held in memory as raw bytes: images u8 [N, C, H, W], labels i64 [N].
// Pixels stay u8 (kdcu's Tensor has no u8 dtype, and f32 would be 4x the memory); the DataLoader
// turns a batch into an f32 Tensor, normalised and augmented, only when it is needed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kdcu {
namespace datasets {

// Which half of a data set a file holds.
enum class Split { Train, Test };
inline const char* split_name(Split s) {
  return s == Split::Train ? "train" : "test";
}

struct Dataset {
  std::string name;    // e.g. "fashion-mnist/train"
  std::string source;  // the file(s) or folder it came from, for messages
  std::int64_t channels = 0, height = 0, width = 0;
  std::vector<std::uint8_t> images;      // [N, C, H, W], row-major
  std::vector<std::int64_t> labels;      // [N], each in [0, num_classes)
  std::vector<std::string> class_names;  // class_names[label]; empty where the format has none
  std::int64_t num_classes = 0;          // class_names.size(), or max label + 1 without names

  std::int64_t size() const { return static_cast<std::int64_t>(labels.size()); }
  std::int64_t image_numel() const { return channels * height * width; }
  const std::uint8_t* image(std::int64_t i) const { return images.data() + i * image_numel(); }

  // Throws ValueError naming the data set when the fields disagree (byte count vs N x C x H x W,
  // a label outside [0, num_classes), class_names of the wrong length). Loaders call it last.
  void validate() const;
};

// The samples `indices` of `d` (in that order) as a new data set called `name`; class names and
// num_classes are kept. Throws ValueError for an index outside [0, d.size()).
Dataset subset(const Dataset& d, const std::vector<std::int64_t>& indices, const std::string& name);

// A train/validation split carved from a training set. Which samples go to validation depends
// only on (seed, N, val_count): the same seed gives the same split on any machine. Both parts
// keep the original order; *_indices are the samples' indices in the original set.
struct TrainValSplit {
  Dataset train, val;
  std::vector<std::int64_t> train_indices, val_indices;
};
// Requires 0 < val_count < d.size() (ValueError otherwise).
TrainValSplit split_train_val(const Dataset& d, std::int64_t val_count, std::uint64_t seed);
// val_count = round(val_fraction * N); requires 0 < val_fraction < 1 and a count in (0, N).
TrainValSplit split_train_val(const Dataset& d, double val_fraction, std::uint64_t seed);

// How many samples of each label, [num_classes].
std::vector<std::int64_t> label_histogram(const Dataset& d);

}  // namespace datasets
}  // namespace kdcu
