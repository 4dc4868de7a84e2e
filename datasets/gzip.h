// gzip through zlib: a streaming reader over a .gz file image in memory (so a parser can check
// a header before it allocates for the data it declares), and a one-shot compressor for writers.
// Compression is detected by the magic bytes 1f 8b, never by the file name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kdcu {
namespace datasets {

inline bool is_gzip(const std::uint8_t* bytes, size_t size) {
  return size >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

// Decompresses gzip data (one or more concatenated members, as `cat a.gz b.gz` makes) as it is
// read. Every failure is an IoError naming `name`: corrupt data or a failed CRC ("corrupt"), an
// input that ends before the last member's end marker ("truncated"), bytes after the last
// member that are not another member.
class GzipReader {
 public:
  GzipReader(const std::uint8_t* bytes, size_t size, std::string name);
  ~GzipReader();
  GzipReader(const GzipReader&) = delete;
  GzipReader& operator=(const GzipReader&) = delete;

  // Writes up to n decompressed bytes to dst and returns how many; fewer than n only when the
  // stream has ended completely (all members, CRCs checked).
  size_t read(std::uint8_t* dst, size_t n);
  std::uint64_t bytes_out() const { return out_; }

 private:
  struct State;
  std::unique_ptr<State> s_;
  const std::uint8_t* in_;
  size_t size_, pos_ = 0;
  std::uint64_t out_ = 0;
  bool ended_ = false;
  std::string name_;
};

// A complete gzip member holding `data`.
std::vector<std::uint8_t> gzip_compress(const std::uint8_t* data, size_t size, int level = 6);

}  // namespace datasets
}  // namespace kdcu
