// Image folders written by the tests with stb_image_write (PNG, BMP, JPEG): class names and
// labels from sorted folder names, [C, H, W] layout, channel choice and conversion, and one
// IoError per layout or file problem (message checked), including mixed image sizes.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "datasets/image_decode.h"
#include "datasets/image_folder.h"
#include "tests/support/temp_dir.h"
#include "tests/support/checks.h"

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wunused-function"
#pragma clang diagnostic ignored "-Wshadow"
#pragma clang diagnostic ignored "-Wmissing-field-initializers"
#elif defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif
#include <stb/stb_image_write.h>
#if defined(__clang__)
#pragma clang diagnostic pop
#elif defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace kdcu {
namespace datasets {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;
using kdcu::testing::throws_with;

struct TempDir : testing::TempDir {
  TempDir() : testing::TempDir("folder") {}
};

// Interleaved [H, W, comp] pixels: value = base + 16 * channel + position.
Bytes pixels(int w, int h, int comp, int base) {
  Bytes px;
  for (int p = 0; p < w * h; ++p)
    for (int c = 0; c < comp; ++c) px.push_back(static_cast<std::uint8_t>(base + 16 * c + p));
  return px;
}

void png(const std::string& path, int w, int h, int comp, const Bytes& px) {
  ASSERT_NE(stbi_write_png(path.c_str(), w, h, comp, px.data(), w * comp), 0) << path;
}
void bmp(const std::string& path, int w, int h, const Bytes& rgb) {
  ASSERT_NE(stbi_write_bmp(path.c_str(), w, h, 3, rgb.data()), 0) << path;
}

void write_text(const std::string& path, const std::string& s) {
  std::ofstream(path, std::ios::trunc) << s;
}

// An 8x8 JPEG of the colour (128, 64, 200), written by libjpeg-turbo 2.1 (jpeg_set_quality 95,
// optimised Huffman tables) — not by stb, whose JPEG writer trips UBSan.
Bytes jpeg_8x8() {
  return {0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01,
          0x00, 0x00, 0xff, 0xdb, 0x00, 0x43, 0x00, 0x02, 0x01, 0x01, 0x01, 0x01, 0x01, 0x02, 0x01, 0x01, 0x01, 0x02,
          0x02, 0x02, 0x02, 0x02, 0x04, 0x03, 0x02, 0x02, 0x02, 0x02, 0x05, 0x04, 0x04, 0x03, 0x04, 0x06, 0x05, 0x06,
          0x06, 0x06, 0x05, 0x06, 0x06, 0x06, 0x07, 0x09, 0x08, 0x06, 0x07, 0x09, 0x07, 0x06, 0x06, 0x08, 0x0b, 0x08,
          0x09, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x06, 0x08, 0x0b, 0x0c, 0x0b, 0x0a, 0x0c, 0x09, 0x0a, 0x0a, 0x0a, 0xff,
          0xdb, 0x00, 0x43, 0x01, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x05, 0x03, 0x03, 0x05, 0x0a, 0x07, 0x06, 0x07,
          0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a,
          0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a,
          0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0xff, 0xc0, 0x00, 0x11,
          0x08, 0x00, 0x08, 0x00, 0x08, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01, 0xff, 0xc4, 0x00,
          0x15, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
          0x00, 0x07, 0xff, 0xc4, 0x00, 0x14, 0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
          0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xc4, 0x00, 0x15, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
          0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x08, 0xff, 0xc4, 0x00, 0x14, 0x11, 0x01, 0x00,
          0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xda, 0x00,
          0x0c, 0x03, 0x01, 0x00, 0x02, 0x11, 0x03, 0x11, 0x00, 0x3f, 0x00, 0x85, 0x80, 0xb9, 0x0a, 0x8f, 0xff, 0xd9};
}

TEST(FolderReader, GrayPngsSortedClassesAndFiles) {
  TempDir t;
  t.dir("root/zebra");
  t.dir("root/ant");
  png(t.file("root/zebra/b.png"), 3, 2, 1, pixels(3, 2, 1, 100));
  png(t.file("root/zebra/a.png"), 3, 2, 1, pixels(3, 2, 1, 50));
  png(t.file("root/ant/x.png"), 3, 2, 1, pixels(3, 2, 1, 0));
  write_text(t.file("root/ant/.DS_Store"), "hidden files are skipped");
  const Dataset d = load_image_folder(t.file("root"), {}, "pets");
  EXPECT_EQ(d.name, "pets");
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"ant", "zebra"}));
  EXPECT_EQ(d.num_classes, 2);
  EXPECT_EQ(d.labels, (std::vector<std::int64_t>{0, 1, 1}));
  EXPECT_EQ(d.channels, 1);
  EXPECT_EQ(d.height, 2);
  EXPECT_EQ(d.width, 3);
  EXPECT_EQ(d.image(1)[0], 50);  // zebra/a.png comes before zebra/b.png
  EXPECT_EQ(d.image(2)[5], 105);
}

TEST(FolderReader, RgbImagesAreStoredChannelsFirst) {
  TempDir t;
  t.dir("root/c");
  const Bytes px = pixels(2, 2, 3, 10);
  bmp(t.file("root/c/1.bmp"), 2, 2, px);
  png(t.file("root/c/2.png"), 2, 2, 3, px);
  const Dataset d = load_image_folder(t.file("root"));
  ASSERT_EQ(d.channels, 3);
  for (std::int64_t i = 0; i < 2; ++i)
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < 4; ++p)
        EXPECT_EQ(d.image(i)[c * 4 + p], px[static_cast<size_t>(p * 3 + c)]) << "image " << i << " c " << c;
}

TEST(FolderReader, ChannelsFromFirstImageOthersConverted) {
  TempDir t;
  t.dir("root/a");
  png(t.file("root/a/1.png"), 1, 1, 1, {200});
  png(t.file("root/a/2.png"), 1, 1, 4, {255, 0, 0, 9});  // RGBA red -> gray (77 * 255) >> 8, alpha dropped
  const Dataset gray = load_image_folder(t.file("root"));
  ASSERT_EQ(gray.channels, 1);
  EXPECT_EQ(gray.image(0)[0], 200);
  EXPECT_EQ(gray.image(1)[0], 76);
  FolderOptions rgb;
  rgb.channels = 3;
  const Dataset color = load_image_folder(t.file("root"), rgb);
  ASSERT_EQ(color.channels, 3);
  EXPECT_EQ((Bytes{color.image(0)[0], color.image(0)[1], color.image(0)[2]}), (Bytes{200, 200, 200}));
  EXPECT_EQ((Bytes{color.image(1)[0], color.image(1)[1], color.image(1)[2]}), (Bytes{255, 0, 0}));
  FolderOptions bad;
  bad.channels = 2;
  EXPECT_TRUE(throws_with<ValueError>([&] { load_image_folder(t.file("root"), bad); }, "channels must be 0"));
}

TEST(FolderReader, JpegDecodes) {
  const Bytes jpeg = jpeg_8x8();
  TempDir t;
  t.dir("root/a");
  {
    std::ofstream out(t.file("root/a/x.jpg"), std::ios::binary);
    out.write(reinterpret_cast<const char*>(jpeg.data()), static_cast<std::streamsize>(jpeg.size()));
  }
  const Dataset d = load_image_folder(t.file("root"));
  ASSERT_EQ(d.channels, 3);
  ASSERT_EQ(d.height, 8);
  ASSERT_EQ(d.width, 8);
  const int want[3] = {128, 64, 200};
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 64; ++p) EXPECT_NEAR(d.image(0)[c * 64 + p], want[c], 3) << "c " << c << " p " << p;  // lossy
}

TEST(FolderErrors, LayoutProblemsAreNamed) {
  TempDir t;
  EXPECT_TRUE(throws_with<IoError>([&] { load_image_folder(t.file("missing"), {}, "f"); },
                                   "f: directory " + t.file("missing") + " does not exist"));
  const std::string empty_root = t.dir("empty");
  EXPECT_TRUE(throws_with<IoError>([&] { load_image_folder(empty_root, {}, "f"); },
                                   "f: " + empty_root + " holds no class sub-folders (expected ROOT/<class>/<image"));
  t.dir("loose/a");
  png(t.file("loose/a/1.png"), 1, 1, 1, {1});
  write_text(t.file("loose/README"), "x");
  EXPECT_TRUE(throws_with<IoError>(
      [&] { load_image_folder(t.file("loose"), {}, "f"); },
      "expected only class sub-folders in " + t.file("loose") + ", found " + t.file("loose/README")));
  t.dir("hollow/a");
  t.dir("hollow/b");
  png(t.file("hollow/a/1.png"), 1, 1, 1, {1});
  EXPECT_TRUE(throws_with<IoError>([&] { load_image_folder(t.file("hollow"), {}, "f"); },
                                   "class folder " + t.file("hollow/b") + " holds no images"));
  t.dir("nested/a/deeper");
  EXPECT_TRUE(throws_with<IoError>([&] { load_image_folder(t.file("nested"), {}, "f"); },
                                   t.file("nested/a/deeper") + " is a folder inside class folder"));
}

TEST(FolderErrors, BadFilesAreNamed) {
  TempDir t;
  t.dir("text/a");
  write_text(t.file("text/a/notes.txt"), "not an image at all");
  EXPECT_TRUE(throws_with<IoError>([&] { load_image_folder(t.file("text")); },
                                   t.file("text/a/notes.txt") + ": not a PNG, JPEG or BMP image"));
  t.dir("gif/a");
  write_text(t.file("gif/a/x.gif"), std::string("GIF89a\x01\x00\x01\x00\x00\x00\x00;", 14));
  EXPECT_TRUE(throws_with<IoError>([&] { load_image_folder(t.file("gif")); }, "x.gif: not a PNG, JPEG or BMP image"));
  t.dir("empty_file/a");
  write_text(t.file("empty_file/a/x.png"), "");
  EXPECT_TRUE(throws_with<IoError>([&] { load_image_folder(t.file("empty_file")); }, "x.png: empty file"));
  t.dir("cut/a");
  png(t.file("cut/a/x.png"), 16, 16, 3, pixels(16, 16, 3, 0));
  fs::resize_file(t.file("cut/a/x.png"), fs::file_size(t.file("cut/a/x.png")) / 2);
  EXPECT_TRUE(throws_with<IoError>([&] { load_image_folder(t.file("cut")); },
                                   t.file("cut/a/x.png") + ": corrupt or truncated image"));
  t.dir("link/a");
  fs::create_symlink(t.file("nowhere.png"), t.file("link/a/x.png"));
  EXPECT_TRUE(throws_with<IoError>([&] { load_image_folder(t.file("link")); },
                                   "cannot read " + t.file("link/a/x.png") + ": not a regular file (a broken link)"));
}

TEST(FolderErrors, MixedSizesNameBothFilesAndSizes) {
  TempDir t;
  t.dir("root/a");
  t.dir("root/b");
  png(t.file("root/a/1.png"), 4, 3, 1, pixels(4, 3, 1, 0));
  png(t.file("root/b/2.png"), 5, 3, 1, pixels(5, 3, 1, 0));
  EXPECT_TRUE(throws_with<IoError>([&] { load_image_folder(t.file("root")); },
                                   "mixed image sizes: " + t.file("root/a/1.png") + " is 4x3 but " +
                                       t.file("root/b/2.png") + " is 5x3; kdcu requires one size"));
  EXPECT_TRUE(throws_with<IoError>([&] { load_image_folder(t.file("root")); }, "does not resize"));
}

// Mutated and truncated PNG, BMP and JPEG files decode or throw IoError (under ASan/UBSan this
// also checks the stb_image build kdcu compiles).
TEST(FolderErrors, MutatedImagesDecodeOrThrowIoError) {
  TempDir t;
  png(t.file("a.png"), 6, 5, 3, pixels(6, 5, 3, 0));
  bmp(t.file("a.bmp"), 6, 5, pixels(6, 5, 3, 0));
  const auto slurp = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  const std::vector<Bytes> bases = {slurp(t.file("a.png")), slurp(t.file("a.bmp")), jpeg_8x8()};
  std::mt19937 rng(7);
  int decoded = 0, rejected = 0;
  for (int trial = 0; trial < 1500; ++trial) {
    Bytes b = bases[static_cast<size_t>(trial) % bases.size()];
    if (trial % 2) {
      b.resize(rng() % b.size());
    } else {
      for (int f = 0; f < 3; ++f) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
    }
    try {
      ImageInfo info;
      const Bytes px = decode_image(b.data(), b.size(), 3, "mutant", &info);
      ASSERT_EQ(px.size(), static_cast<size_t>(info.width) * static_cast<size_t>(info.height) * 3);
      ++decoded;
    } catch (const IoError&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 300);
  EXPECT_GT(decoded, 10);
}

}  // namespace
}  // namespace datasets
}  // namespace kdcu
