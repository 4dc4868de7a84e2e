// Whole-file reads and atomic writes for the dataset readers, with IoErrors that name the path
// and the OS's reason, plus the directory checks that tell the user how to get missing data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kdcu {
namespace datasets {

// The bytes of a regular file. IoError naming the path when it is missing (with `hint`, e.g.
// how to install the data, appended), a directory, or unreadable (the OS's reason).
std::vector<std::uint8_t> read_file(const std::string& path, const std::string& hint = "");

// IoError "<what>: directory DIR does not exist" (+ hint) unless `dir` is a directory.
void require_directory(const std::string& dir, const std::string& what, const std::string& hint = "");

// `dir/name` (no separator doubled).
std::string join_path(const std::string& dir, const std::string& name);
bool file_exists(const std::string& path);

// Writes `bytes` to path + ".tmp.<pid>.<n>", flushes it and renames it over `path`, so a failed
// write never leaves a partial file; IoError naming the path and the OS's reason.
void write_file_atomic(const std::string& path, const void* bytes, size_t size);

}  // namespace datasets
}  // namespace kdcu
