// safetensors I/O: the weight-file format of PyTorch/Hugging Face (u64 little-endian header
// length N, N bytes of JSON {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}},
// then the raw little-endian data). Reading never trusts the file; writing is atomic.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace kdcu {

// A loaded file: CPU tensors (no autograd history) in file order, plus the string metadata.
struct SafetensorsFile {
  std::string path;  // where it came from, for error messages
  // In the order of their data in the file (for files written by kdcu or by the PyTorch
  // writers: the order they were given in). Names are unique.
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::map<std::string, std::string> metadata;

  // The tensor called `name`; throws IoError naming the file, the tensor and a few names the
  // file does hold.
  const Tensor& at(const std::string& name) const;
  bool contains(const std::string& name) const;
  std::vector<std::string> names() const;
};

// Reads a whole file into CPU tensors. Dtypes F32, F64 and I64 load as f32, f64 and i64; any
// other dtype (F16, BF16, I32, ...) is an IoError naming the dtype and the tensor.
//
// Requires nothing of the file. Ensures that every way a file can be wrong (missing, short,
// header length past the end or over 100 MB, invalid JSON or UTF-8, entries of the wrong JSON
// types, negative or overflowing shapes, data_offsets not [begin <= end] inside the data
// section, a byte length that does not match shape x dtype, overlapping tensors, duplicate
// names, non-string metadata) ends in an IoError naming the path, the tensor where there is
// one, and what was expected vs found. Gaps between tensors and bytes after the last one are
// tolerated (the format does not forbid them and they cannot make a read go out of bounds).
SafetensorsFile load_safetensors(const std::string& path);

// The same checks on a file image already in memory; `name` stands for the path in messages.
SafetensorsFile load_safetensors_from_memory(const void* bytes, size_t size, const std::string& name = "<memory>");

// Writes `tensors` in the given order (contiguous data, header padded with spaces to a multiple
// of 8; "__metadata__" is written only when `metadata` is not empty). CUDA tensors are copied to
// the host one at a time. Any dtype kdcu has is written (f32 -> F32, f64 -> F64, i64 -> I64).
//
// Atomic: the bytes go to `path + ".tmp.<pid>.<n>"` in the same directory, which is flushed,
// fsync'ed and renamed over `path`. On any failure (undefined tensor, duplicate or reserved
// name, missing or read-only directory, a full disk, a failed device copy) the temporary is
// removed, an existing file at `path` is left as it was, and an IoError names the path and the
// cause (the OS error text where there is one).
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace kdcu
