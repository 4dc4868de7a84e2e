// The soft-label cache: a teacher's logits for every training sample, computed once (eval mode,
// no augmentation) and stored as safetensors [N, classes] f32, row i = the sample with index i in
// the data set — indexed by sample, never by batch position, so any shuffle reads the right rows.
// The file carries a key (teacher name + weights, data, normalisation) in its metadata; a file
// whose key differs is stale and is rebuilt.
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.h"
#include "datasets/dataset.h"
#include "datasets/transforms.h"
#include "nn/model.h"

namespace kdcu {
namespace distill {

// What the cached logits depend on. Hashes are FNV-1a 64 (core/hash.h) over the state_dict
// (names, shapes, dtypes, bytes), and over the data set's images and labels.
struct SoftLabelKey {
  std::string teacher;  // registry name + config
  std::uint64_t weights_hash = 0, data_hash = 0;
  std::string normalization;  // the mean/std values, exactly
  std::int64_t samples = 0, classes = 0;

  std::string str() const;  // one line, the form stored in the file
  bool operator==(const SoftLabelKey& o) const { return str() == o.str(); }
};

SoftLabelKey soft_label_key(const nn::Model& teacher, const datasets::Dataset& data,
                            const datasets::Normalization& norm);

struct SoftLabels {
  Tensor logits;       // [N, classes] f32 on the CPU
  std::string path;    // the cache file
  bool built = false;  // computed now (no file, or a stale or unreadable one), rather than read
  std::string why;     // why it was built: "no cache file", "stale: <what differs>", "unreadable: ..."
  double seconds = 0.0;
};

// Reads `path` when its key matches; otherwise runs the teacher over `data` (predict_logits) and
// writes the file atomically (its directory is created). A write failure is an IoError; a
// corrupt or foreign file is not an error, it is replaced.
SoftLabels load_or_build_soft_labels(const std::string& path, nn::Model& teacher, const datasets::Dataset& data,
                                     const datasets::Normalization& norm, const Device& device,
                                     std::int64_t batch_size = 500);

// Rows `indices` (i64 [B], values in [0, N)) of `table` [N, C] -> [B, C], on the CPU. ValueError
// for an index out of range.
Tensor gather_rows(const Tensor& table, const Tensor& indices);

}  // namespace distill
}  // namespace kdcu
