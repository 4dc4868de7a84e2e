// zlib's inflate driven in bounded chunks, so the caller decides how much memory a file gets
// (a lying header cannot make it allocate what the compressed data does not hold).
#include "datasets/gzip.h"

#include <zlib.h>

#include <algorithm>
#include <climits>

#include "core/error.h"

namespace kdcu {
namespace datasets {

struct GzipReader::State {
  z_stream zs{};
};

GzipReader::GzipReader(const std::uint8_t* bytes, size_t size, std::string name)
    : s_(new State), in_(bytes), size_(size), name_(std::move(name)) {
  // 16 + MAX_WBITS: gzip wrapper only (the magic was checked by the caller), CRC-32 verified.
  if (inflateInit2(&s_->zs, 16 + MAX_WBITS) != Z_OK) throw IoError(cat(name_, ": zlib could not start inflating"));
}

GzipReader::~GzipReader() {
  inflateEnd(&s_->zs);
}

size_t GzipReader::read(std::uint8_t* dst, size_t n) {
  z_stream& zs = s_->zs;
  size_t produced = 0;
  while (produced < n && !ended_) {
    if (zs.avail_in == 0 && pos_ < size_) {  // feed the next chunk (avail_in is 32-bit)
      zs.next_in = const_cast<Bytef*>(in_ + pos_);
      zs.avail_in = static_cast<uInt>(std::min<size_t>(size_ - pos_, UINT_MAX));
      pos_ += zs.avail_in;
    }
    const auto room = static_cast<uInt>(std::min<size_t>(n - produced, UINT_MAX));
    zs.next_out = dst + produced;
    zs.avail_out = room;
    const int rc = inflate(&zs, Z_NO_FLUSH);
    produced += room - zs.avail_out;
    out_ += room - zs.avail_out;
    const size_t consumed = pos_ - zs.avail_in;
    if (rc == Z_STREAM_END) {
      if (consumed == size_) {
        ended_ = true;
      } else if (is_gzip(in_ + consumed, size_ - consumed)) {
        inflateReset(&zs);  // another member follows
      } else {
        throw IoError(cat(name_, ": corrupt gzip file: ", size_ - consumed,
                          " bytes after the end of the gzip stream (at ", "byte ", consumed,
                          ") are not another gzip member"));
      }
    } else if (rc == Z_BUF_ERROR || (rc == Z_OK && consumed == size_ && zs.avail_out != 0)) {
      // No progress is possible: the input ran out before the end marker.
      if (consumed == size_)
        throw IoError(cat(name_, ": truncated gzip file: the compressed data ends after ", size_, " bytes (", out_,
                          " bytes decompressed) without the end-of-stream marker"));
      throw IoError(cat(name_, ": corrupt gzip file: zlib made no progress at byte ", consumed));
    } else if (rc == Z_MEM_ERROR) {
      throw IoError(cat(name_, ": out of memory while decompressing"));
    } else if (rc != Z_OK) {  // Z_DATA_ERROR (bad data, bad CRC), Z_NEED_DICT, Z_STREAM_ERROR
      throw IoError(cat(name_, ": corrupt gzip file near compressed byte ", consumed,
                        " (zlib: ", zs.msg ? zs.msg : "invalid data", ")"));
    }
  }
  return produced;
}

std::vector<std::uint8_t> gzip_compress(const std::uint8_t* data, size_t size, int level) {
  require<IoError>(size <= UINT_MAX, "gzip: kdcu compresses at most 4 GiB at once, found ", size, " bytes");
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw IoError("gzip: zlib could not start deflating");
  std::vector<std::uint8_t> out(deflateBound(&zs, static_cast<uLong>(size)) + 64);
  zs.next_in = const_cast<Bytef*>(data);
  zs.avail_in = static_cast<uInt>(size);
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  const size_t written = out.size() - zs.avail_out;
  deflateEnd(&zs);
  require<IoError>(rc == Z_STREAM_END, "gzip: zlib could not compress ", size, " bytes (code ", rc, ")");
  out.resize(written);
  return out;
}

}  // namespace datasets
}  // namespace kdcu
