// The one place stb_image is compiled: static linkage (STB_IMAGE_STATIC), so it cannot clash
// with another copy, and built with kdcu's own flags (sanitizers and fuzzer coverage included).
#include "datasets/image_decode.h"

#include <algorithm>
#include <climits>
#include <memory>

#include "core/error.h"

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STBI_MAX_DIMENSIONS 16384  // a corrupt header cannot ask for gigabytes
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wunused-function"
#pragma clang diagnostic ignored "-Wshadow"
#pragma clang diagnostic ignored "-Wsign-compare"
#pragma clang diagnostic ignored "-Wmissing-field-initializers"
#pragma clang diagnostic ignored "-Wimplicit-fallthrough"
#elif defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wduplicated-branches"
#endif
#include <stb/stb_image.h>
#if defined(__clang__)
#pragma clang diagnostic pop
#elif defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace kdcu {
namespace datasets {
namespace {

const char* reason() {
  const char* r = stbi_failure_reason();
  return r ? r : "unknown error";
}

// Debian's stb_image 2.27 trusts JPEG Huffman tables more than it should (upstream added checks
// in 2.28): a table whose 16 code counts add up to more than 256 is built past its arrays, and
// a scan that uses a table no DHT segment defined decodes with uninitialised memory (stb does
// not zero its decoder) and indexes out of bounds. Walk the markers as stb does and reject both
// before stb sees the file. Returns what is wrong, or "" (also for data that is not a JPEG).
std::string bad_jpeg_tables(const std::uint8_t* b, size_t n) {
  size_t i = 1;  // stb, like the standard, skips 0xFF fill bytes before the SOI's D8
  while (i < n && b[i] == 0xFF) ++i;
  if (n < 2 || b[0] != 0xFF || i >= n || b[i] != 0xD8) return "";
  ++i;
  const auto at = [&](size_t k) -> unsigned { return k < n ? b[k] : 0u; };  // stb reads 0 past the end
  bool defined[2][4] = {};                                                  // [DC, AC][table id]
  bool progressive = false;
  while (i + 1 < n) {
    if (b[i] != 0xFF) {  // entropy-coded data (or junk): look for the next marker
      ++i;
      continue;
    }
    const unsigned m = b[i + 1];
    if (m == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) {  // stuffed 0xFF, TEM, RSTn, SOI
      i += 2;
      continue;
    }
    if (m == 0xD9) break;  // EOI
    const size_t len = (at(i + 2) << 8) | at(i + 3);
    if (m == 0xC2) progressive = true;
    if (m == 0xC0 || m == 0xC1) progressive = false;
    if (m == 0xC4) {
      // stb reads tables while the segment has bytes left, even a table that runs past its end.
      for (size_t p = i + 4; p < i + 2 + len;) {
        size_t count = 0;
        for (size_t k = 1; k <= 16; ++k) count += at(p + k);
        if (count > 256) return cat("the Huffman table at byte ", p, " declares ", count, " codes (at most 256)");
        const unsigned tc = at(p) >> 4, th = at(p) & 15;
        if (tc <= 1 && th <= 3) defined[tc][th] = true;
        p += 17 + count;
      }
    }
    if (m == 0xDA) {  // SOS: Ns, Ns x (component, DC table << 4 | AC table), Ss, Se, Ah|Al
      const unsigned ns = at(i + 4);
      const unsigned ss = at(i + 5 + 2 * ns);
      const bool uses_dc = !progressive || ss == 0, uses_ac = !progressive || ss != 0;
      for (unsigned c = 0; c < ns; ++c) {
        const unsigned q = at(i + 6 + 2 * c), dc = q >> 4, ac = q & 15;
        if ((uses_dc && (dc > 3 || !defined[0][dc])) || (uses_ac && (ac > 3 || !defined[1][ac])))
          return cat("the scan at byte ", i, " uses Huffman table DC ", dc, " / AC ", ac, ", which no DHT defines");
      }
    }
    i += 2 + std::max<size_t>(len, 2);
  }
  return "";
}

}  // namespace

ImageInfo image_info(const std::uint8_t* bytes, size_t size, const std::string& name) {
  require<IoError>(size > 0, name, ": empty file, expected a PNG, JPEG or BMP image");
  require<IoError>(size <= INT_MAX, name, ": ", size, " bytes is more than stb_image reads (2 GiB)");
  const std::string bad_tables = bad_jpeg_tables(bytes, size);
  require<IoError>(bad_tables.empty(), name, ": corrupt JPEG: ", bad_tables);
  ImageInfo info;
  const int ok = stbi_info_from_memory(bytes, static_cast<int>(size), &info.width, &info.height, &info.channels);
  require<IoError>(ok == 1, name, ": not a PNG, JPEG or BMP image that kdcu can read (stb_image: ", reason(), ")");
  return info;
}

std::vector<std::uint8_t> decode_image(const std::uint8_t* bytes, size_t size, int channels, const std::string& name,
                                       ImageInfo* info) {
  require<ValueError>(channels == 1 || channels == 3, "decode_image: channels must be 1 or 3, found ", channels);
  *info = image_info(bytes, size, name);
  int w = 0, h = 0, c = 0;
  stbi_uc* px = stbi_load_from_memory(bytes, static_cast<int>(size), &w, &h, &c, channels);
  require<IoError>(px != nullptr, name, ": corrupt or truncated image (stb_image: ", reason(), ")");
  const std::unique_ptr<stbi_uc, void (*)(void*)> owner(px, stbi_image_free);
  std::vector<std::uint8_t> out(px,
                                px + static_cast<size_t>(w) * static_cast<size_t>(h) * static_cast<size_t>(channels));
  require<IoError>(w == info->width && h == info->height, name, ": header says ", info->width, "x", info->height,
                   " but the image decodes to ", w, "x", h);
  return out;
}

}  // namespace datasets
}  // namespace kdcu
