// Named data sets: "fashion-mnist", "mnist", "cifar10", "cifar100" and "folder:PATH", each read
// from its default directory or from a --data DIR override, with class names and the usual
// normalisation statistics where they are known.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/image_folder.h"
#include "datasets/transforms.h"

namespace kdcu {
namespace datasets {

struct NamedDataset {
  std::string name;  // canonical: "fashion-mnist", ..., "folder:PATH"
  std::string dir;   // where it was read from
  Dataset train, test;
  std::vector<std::string> class_names;
  // The published statistics of the training set, where known; otherwise empty, and
  // normalization() computes them from `train`.
  std::optional<Normalization> known_normalization;
  Normalization normalization() const;
};

// The specs load_dataset accepts, for help texts.
std::vector<std::string> dataset_names();

// The directory a named data set is read from when no override is given:
//   fashion-mnist  /usr/share/datasets/fashion-mnist   (Debian: apt-get install dataset-fashion-mnist)
//   mnist          data/mnist                          (the four IDX files, plain or .gz)
//   cifar10        data/cifar-10-batches-bin            (the CIFAR-10 binary version, extracted)
//   cifar100       data/cifar-100-binary                (the CIFAR-100 binary version, extracted)
// "data/..." is relative to the working directory. ValueError for an unknown name.
std::string default_data_dir(const std::string& name);

// Loads the train and test sets of `spec`. `data_dir`, when not empty, replaces the default
// directory. For "folder:PATH" the layout is PATH/train/<class>/... and PATH/test/<class>/...
// (or PATH/val/...); "folder" alone takes PATH from `data_dir`, and a PATH and a different
// `data_dir` together are a ValueError. Train and test must have the same class folders and
// image size (test images take the channel count of train). ValueError for an unknown spec
// (listing the known ones); IoError for missing or bad data, saying how to get it.
NamedDataset load_dataset(const std::string& spec, const std::string& data_dir = "", const FolderOptions& folder = {});

}  // namespace datasets
}  // namespace kdcu
