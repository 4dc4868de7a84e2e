// CIFAR-10 and CIFAR-100 binary batches: fixed-size records of label byte(s) then 3072 pixel
// bytes (the R, G and B planes of a 32x32 image, i.e. already [C, H, W]). CIFAR-10 records have
// one label (0-9); CIFAR-100 records have a coarse (0-19) and a fine (0-99) label: kdcu uses fine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace kdcu {
namespace datasets {

enum class CifarKind { Cifar10, Cifar100 };

constexpr std::int64_t kCifarSide = 32;
constexpr std::int64_t kCifarPixels = 3 * kCifarSide * kCifarSide;  // 3072

struct CifarRecords {
  std::vector<std::uint8_t> images;  // [N, 3, 32, 32]
  std::vector<std::int64_t> labels;  // [N]: the label (CIFAR-10) or the fine label (CIFAR-100)
  std::vector<std::int64_t> coarse;  // [N] for CIFAR-100, empty for CIFAR-10
};

// Bytes per record: 3073 (CIFAR-10) or 3074 (CIFAR-100).
std::int64_t cifar_record_bytes(CifarKind kind);

// Parses one batch file image. IoError naming `name`: an empty input, a size that is not a whole
// number of records (how many whole records and bytes over), a label out of range (the record
// and its byte offset), or gzip data (CIFAR batches are read uncompressed).
CifarRecords parse_cifar(const std::uint8_t* bytes, size_t size, CifarKind kind, const std::string& name = "<memory>");

// One split from the standard files in `dir`: CIFAR-10 data_batch_1.bin ... data_batch_5.bin
// (train) or test_batch.bin, class names from batches.meta.txt when present; CIFAR-100 train.bin
// or test.bin, names from fine_label_names.txt when present. Every listed batch must be there
// (no partial loads); a missing directory or file is an IoError naming it, plus `hint`.
Dataset load_cifar_dir(const std::string& dir, CifarKind kind, Split split, const std::string& name,
                       const std::string& hint = "");

// The non-empty lines of a class-names file (trailing spaces and \r removed); IoError unless
// there are exactly `expected` of them.
std::vector<std::string> read_class_names(const std::string& path, std::int64_t expected);

}  // namespace datasets
}  // namespace kdcu
