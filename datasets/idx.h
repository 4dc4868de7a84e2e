// IDX files (MNIST, Fashion-MNIST, EMNIST): a 4-byte magic (0, 0, type, ndims), ndims big-endian
// u32 extents, then the data. kdcu reads unsigned-byte data (type 0x08), plain or gzip'ed
// (detected by the magic bytes 1f 8b): images [N, H, W] -> a Dataset with C = 1, labels [N].
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace kdcu {
namespace datasets {

struct IdxArray {
  std::vector<std::int64_t> dims;  // 1 to 8 extents
  std::vector<std::uint8_t> data;  // product(dims) bytes
};

// Parses one IDX file image. Never trusts it: a short header, a wrong magic number, a type other
// than 0x08, zero or more than 8 dims, extents whose product exceeds 16 GiB, data shorter or
// longer than the extents declare, and corrupt or truncated gzip all end in an IoError naming
// `name` with what was expected and what was found. Allocates only as much as the input holds.
IdxArray parse_idx(const std::uint8_t* bytes, size_t size, const std::string& name = "<memory>");
IdxArray read_idx(const std::string& path);

// A data set from an images array [N, H, W] and a labels array [N] (C = 1, num_classes = max
// label + 1, no class names). IoError naming both sources for wrong dims, N = 0, H or W = 0, or
// image and label counts that differ.
Dataset idx_dataset(IdxArray images, IdxArray labels, const std::string& images_name, const std::string& labels_name,
                    const std::string& name);
Dataset load_idx(const std::string& images_path, const std::string& labels_path, const std::string& name = "idx");

// The standard files of one split in `dir`: {train,t10k}-images-idx3-ubyte and
// {train,t10k}-labels-idx1-ubyte, each plain or with ".gz" (the plain file is used when both
// exist). A missing directory or file is an IoError naming what was looked for, plus `hint`
// (how to get the data).
Dataset load_idx_dir(const std::string& dir, Split split, const std::string& name = "idx",
                     const std::string& hint = "");

// Writes an IDX file of unsigned bytes (for tests, fixtures and exports), gzip'ed when `gzip`;
// atomic (see write_file_atomic).
void write_idx(const std::string& path, const std::vector<std::int64_t>& dims, const std::uint8_t* data, bool gzip);

}  // namespace datasets
}  // namespace kdcu
