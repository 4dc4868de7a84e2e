// PNG, JPEG and BMP decoding through stb_image (Debian libstb-dev's header; the implementation is
// compiled once, in image_decode.cpp, with only those three formats and a 16384-pixel side limit).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kdcu {
namespace datasets {

struct ImageInfo {
  int width = 0, height = 0;
  int channels = 0;  // as stored: 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA
};

// Reads only the header. IoError naming `name` when the bytes are not a PNG, JPEG or BMP image
// stb_image can read (with stb_image's reason).
ImageInfo image_info(const std::uint8_t* bytes, size_t size, const std::string& name);

// Decodes to `channels` (1 or 3) interleaved bytes [H, W, channels]: RGB to gray uses stb_image's
// (77 R + 150 G + 29 B) / 256, gray to RGB repeats the value, alpha is dropped. IoError naming
// `name` for data that does not decode (truncated or corrupt), with stb_image's reason.
std::vector<std::uint8_t> decode_image(const std::uint8_t* bytes, size_t size, int channels, const std::string& name,
                                       ImageInfo* info);

}  // namespace datasets
}  // namespace kdcu
