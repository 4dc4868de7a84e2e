// IDX reading on files the tests write: plain and gzip (detected by magic, not name), the
// standard directory layout, one IoError per way a file can be wrong (message checked), and
// random mutations and truncations that must load or throw IoError.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "datasets/gzip.h"
#include "datasets/idx.h"
#include "tests/support/temp_dir.h"
#include "tests/support/checks.h"

namespace kdcu {
namespace datasets {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;
using kdcu::testing::throws_with;

struct TempDir : testing::TempDir {
  TempDir() : testing::TempDir("idx") {}
};

void write_bytes(const std::string& path, const Bytes& b) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// An IDX file image built by hand (independent of write_idx): magic, big-endian dims, data.
Bytes idx_bytes(const std::vector<std::uint32_t>& dims, const Bytes& data, std::uint8_t type = 0x08) {
  Bytes b = {0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(d >> s));
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

Bytes gz(const Bytes& b) {
  return gzip_compress(b.data(), b.size());
}

// Three 2x4 images (pixel = 10 * image + position) and labels 4, 0, 2.
Bytes images3() {
  Bytes px;
  for (int i = 0; i < 3; ++i)
    for (int p = 0; p < 8; ++p) px.push_back(static_cast<std::uint8_t>(10 * i + p));
  return idx_bytes({3, 2, 4}, px);
}
Bytes labels3() {
  return idx_bytes({3}, {4, 0, 2});
}

TEST(IdxReader, PlainImagesAndLabelsLoad) {
  TempDir t;
  write_bytes(t.file("img"), images3());
  write_bytes(t.file("lab"), labels3());
  const Dataset d = load_idx(t.file("img"), t.file("lab"), "tiny");
  EXPECT_EQ(d.size(), 3);
  EXPECT_EQ(d.channels, 1);
  EXPECT_EQ(d.height, 2);
  EXPECT_EQ(d.width, 4);
  EXPECT_EQ(d.num_classes, 5);  // max label + 1
  EXPECT_TRUE(d.class_names.empty());
  EXPECT_EQ(d.labels, (std::vector<std::int64_t>{4, 0, 2}));
  ASSERT_EQ(d.images.size(), 24u);
  EXPECT_EQ(d.image(2)[5], 25);
  EXPECT_EQ(d.name, "tiny");
  EXPECT_NE(d.source.find(t.file("img")), std::string::npos);
}

TEST(IdxReader, GzipIsDetectedByMagicNotByName) {
  TempDir t;
  write_bytes(t.file("images.plain"), gz(images3()));  // gzip under a plain name
  write_bytes(t.file("labels.gz"), labels3());         // plain under a .gz name
  const Dataset d = load_idx(t.file("images.plain"), t.file("labels.gz"));
  EXPECT_EQ(d.size(), 3);
  EXPECT_EQ(d.image(1)[0], 10);
}

TEST(IdxReader, ReadsGzipWrittenByPython) {
  // Python's gzip.GzipFile(mtime=0) of the IDX labels file [3] = {1, 2, 3}: a gzip stream this
  // code base did not write.
  const Bytes file = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xff, 0x63, 0x60, 0xe0, 0x60, 0x64, 0x60,
                      0x60, 0x60, 0x66, 0x64, 0x62, 0x06, 0x00, 0x8b, 0xe5, 0xbd, 0xa4, 0x0b, 0x00, 0x00, 0x00};
  const IdxArray a = parse_idx(file.data(), file.size(), "python.gz");
  EXPECT_EQ(a.dims, (std::vector<std::int64_t>{3}));
  EXPECT_EQ(a.data, (Bytes{1, 2, 3}));
}

TEST(IdxReader, ConcatenatedGzipMembersAreOneStream) {
  const Bytes whole = images3();
  const Bytes head(whole.begin(), whole.begin() + 9), tail(whole.begin() + 9, whole.end());
  Bytes two = gz(head);
  const Bytes second = gz(tail);
  two.insert(two.end(), second.begin(), second.end());
  const IdxArray a = parse_idx(two.data(), two.size(), "two-members.gz");
  EXPECT_EQ(a.dims, (std::vector<std::int64_t>{3, 2, 4}));
  EXPECT_EQ(a.data, Bytes(whole.begin() + 16, whole.end()));
}

TEST(IdxReader, WriteIdxMatchesTheFormatAndRoundTrips) {
  TempDir t;
  const Bytes px = {1, 2, 3, 4, 5, 6};
  write_idx(t.file("a"), {1, 2, 3}, px.data(), false);
  EXPECT_EQ(read_bytes(t.file("a")), idx_bytes({1, 2, 3}, px));
  write_idx(t.file("a.gz"), {1, 2, 3}, px.data(), true);
  const Bytes z = read_bytes(t.file("a.gz"));
  ASSERT_GE(z.size(), 2u);
  EXPECT_TRUE(is_gzip(z.data(), z.size()));
  const IdxArray a = read_idx(t.file("a.gz"));
  EXPECT_EQ(a.dims, (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_EQ(a.data, px);
}

TEST(IdxReader, DirectoryWithStandardNames) {
  TempDir t;
  write_bytes(t.file("train-images-idx3-ubyte.gz"), gz(images3()));
  write_bytes(t.file("train-labels-idx1-ubyte"), labels3());
  write_bytes(t.file("t10k-images-idx3-ubyte"), idx_bytes({1, 2, 4}, Bytes(8, 7)));
  write_bytes(t.file("t10k-labels-idx1-ubyte.gz"), gz(idx_bytes({1}, {1})));
  const Dataset train = load_idx_dir(t.path.string(), Split::Train, "mine");
  const Dataset test = load_idx_dir(t.path.string(), Split::Test, "mine");
  EXPECT_EQ(train.name, "mine/train");
  EXPECT_EQ(test.name, "mine/test");
  EXPECT_EQ(train.size(), 3);
  EXPECT_EQ(test.size(), 1);
  EXPECT_EQ(test.image(0)[7], 7);
  // The plain file wins when both exist.
  write_bytes(t.file("t10k-images-idx3-ubyte.gz"), gz(idx_bytes({1, 2, 4}, Bytes(8, 9))));
  EXPECT_EQ(load_idx_dir(t.path.string(), Split::Test).image(0)[0], 7);
}

TEST(IdxErrors, MissingDirectoryNamesItAndTheHint) {
  EXPECT_TRUE(throws_with<IoError>(
      [] { load_idx_dir("/nonexistent/kdcu-data", Split::Train, "fashion-mnist", "apt-get install it"); },
      "fashion-mnist: directory /nonexistent/kdcu-data does not exist; apt-get install it"));
}

TEST(IdxErrors, MissingFileNamesBothCandidates) {
  TempDir t;
  write_bytes(t.file("train-images-idx3-ubyte"), images3());
  const std::string labels = t.file("train-labels-idx1-ubyte");
  EXPECT_TRUE(throws_with<IoError>([&] { load_idx_dir(t.path.string(), Split::Train, "x", "how to get it"); },
                                   "neither " + labels + " nor " + labels + ".gz exists; how to get it"));
  EXPECT_TRUE(throws_with<IoError>([&] { read_idx(t.file("nope")); }, t.file("nope") + ": no such file"));
  EXPECT_TRUE(throws_with<IoError>([&] { read_idx(t.path.string()); }, "expected a file, found a directory"));
  ASSERT_EQ(::mkfifo(t.file("fifo").c_str(), 0600), 0);  // must not block waiting for a writer
  EXPECT_TRUE(throws_with<IoError>([&] { read_idx(t.file("fifo")); }, "expected a regular file, found a special file"));
}

struct BadCase {
  const char* what;
  Bytes bytes;
  const char* needle;
};

TEST(IdxErrors, EachMalformedFileIsAnIoErrorSayingWhy) {
  Bytes truncated = images3();
  truncated.pop_back();
  Bytes extra = images3();
  extra.push_back(0);
  const std::vector<BadCase> cases = {
      {"empty", {}, "too short for an IDX file"},
      {"2 bytes", {0, 0}, "holds 2 bytes"},
      {"png magic", {0x89, 'P', 'N', 'G', 0, 0, 0, 0}, "wrong magic number 0x89504e47"},
      {"float type", idx_bytes({1}, {0, 0, 0, 0}, 0x0D), "data type 0x0d (float)"},
      {"zero dims", {0, 0, 8, 0}, "declares 0 dims"},
      {"short header", {0, 0, 8, 3, 0, 0, 0, 1}, "truncated IDX header: 3 dims need 16 header bytes"},
      {"truncated data", truncated, "truncated IDX file: header declares dims [3, 2, 4] = 24 data bytes"},
      {"extra data", extra, "1 unexpected bytes after the 24 data bytes"},
      {"huge dims", idx_bytes({60000, 60000, 60000}, {}), "more than kdcu's limit"},
      {"gzip truncated data", gz(truncated),
       "truncated IDX data: header declares dims [3, 2, 4] = 24 data bytes, "
       "the decompressed stream holds 23"},
      {"gzip extra data", gz(extra), "decompressed stream holds more than the 24 data bytes"},
      // A header that claims 1 GiB of data with a tiny stream must fail without allocating it.
      {"gzip lying header", gz(idx_bytes({1024, 1024, 1024}, Bytes(100, 1))), "the decompressed stream holds 100"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.what);
    EXPECT_TRUE(throws_with<IoError>([&] { parse_idx(c.bytes.data(), c.bytes.size(), "f.idx"); }, "f.idx: "));
    EXPECT_TRUE(throws_with<IoError>([&] { parse_idx(c.bytes.data(), c.bytes.size(), "f.idx"); }, c.needle));
  }
}

TEST(IdxErrors, TruncatedOrCorruptGzip) {
  const Bytes z = gz(images3());
  const Bytes half(z.begin(), z.begin() + static_cast<long>(z.size() / 2));
  EXPECT_TRUE(throws_with<IoError>([&] { parse_idx(half.data(), half.size(), "half.gz"); }, "half.gz: truncated gzip"));
  const Bytes no_trailer(z.begin(), z.end() - 8);  // all data, no CRC/size: still truncated
  EXPECT_TRUE(throws_with<IoError>([&] { parse_idx(no_trailer.data(), no_trailer.size(), "t.gz"); },
                                   "t.gz: truncated gzip file"));
  Bytes bad_crc = z;
  bad_crc[bad_crc.size() - 8] ^= 0xFF;
  EXPECT_TRUE(throws_with<IoError>([&] { parse_idx(bad_crc.data(), bad_crc.size(), "crc.gz"); },
                                   "crc.gz: corrupt gzip file near compressed byte"));
  EXPECT_TRUE(
      throws_with<IoError>([&] { parse_idx(bad_crc.data(), bad_crc.size(), "crc.gz"); }, "incorrect data check"));
  Bytes bad_block = z;
  bad_block[10] = 0xFF;  // first deflate block header: reserved block type 3
  EXPECT_TRUE(
      throws_with<IoError>([&] { parse_idx(bad_block.data(), bad_block.size(), "b.gz"); }, "b.gz: corrupt gzip file"));
  Bytes garbage = z;
  garbage.push_back('x');
  EXPECT_TRUE(throws_with<IoError>([&] { parse_idx(garbage.data(), garbage.size(), "g.gz"); },
                                   "1 bytes after the end of the gzip stream"));
  const Bytes magic_only = {0x1f, 0x8b};
  EXPECT_TRUE(throws_with<IoError>([&] { parse_idx(magic_only.data(), magic_only.size(), "m.gz"); }, "m.gz:"));
}

TEST(IdxErrors, ImagesAndLabelsMustAgree) {
  TempDir t;
  write_bytes(t.file("img"), images3());
  write_bytes(t.file("lab"), labels3());
  write_bytes(t.file("lab2"), idx_bytes({2}, {0, 1}));
  write_bytes(t.file("zero"), idx_bytes({0, 2, 4}, {}));
  write_bytes(t.file("flat"), idx_bytes({3, 0, 4}, {}));
  EXPECT_TRUE(throws_with<IoError>(
      [&] { load_idx(t.file("img"), t.file("lab2")); },
      "image/label count mismatch: " + t.file("img") + " holds 3 images but " + t.file("lab2") + " holds 2 labels"));
  EXPECT_TRUE(throws_with<IoError>([&] { load_idx(t.file("lab"), t.file("img")); },
                                   t.file("lab") + ": expected an IDX images file with 3 dims [N, H, W], found 1 dims "
                                                   "[3] (is it a labels file?)"));
  EXPECT_TRUE(throws_with<IoError>([&] { load_idx(t.file("img"), t.file("img")); },
                                   "expected an IDX labels file with 1 dim [N], found 3 dims [3, 2, 4]"));
  EXPECT_TRUE(throws_with<IoError>([&] { load_idx(t.file("zero"), t.file("lab")); }, "holds no images"));
  EXPECT_TRUE(throws_with<IoError>([&] { load_idx(t.file("flat"), t.file("lab")); }, "found 0x4"));
}

// Every mutation or truncation of a valid file, plain or gzip, loads or throws IoError (run
// under ASan/UBSan this also proves no out-of-bounds access).
TEST(IdxErrors, RandomMutationsLoadOrThrowIoError) {
  std::mt19937 rng(1234);
  const std::vector<Bytes> bases = {images3(), gz(images3()), labels3(), gz(labels3())};
  int loaded = 0, rejected = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    Bytes b = bases[static_cast<size_t>(trial) % bases.size()];
    const int kind = static_cast<int>(rng() % 3);
    if (kind == 0 && !b.empty()) {
      b.resize(rng() % b.size());
    } else {
      const int flips = 1 + static_cast<int>(rng() % 3);
      for (int f = 0; f < flips; ++f) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
      if (kind == 2) b.push_back(static_cast<std::uint8_t>(rng()));
    }
    try {
      const IdxArray a = parse_idx(b.data(), b.size(), "mutant");
      std::uint64_t n = 1;
      for (std::int64_t d : a.dims) n *= static_cast<std::uint64_t>(d);
      ASSERT_EQ(a.data.size(), n);
      ++loaded;
    } catch (const IoError&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 1000);
  EXPECT_GT(loaded, 10);  // flips in pixel bytes still load
}

}  // namespace
}  // namespace datasets
}  // namespace kdcu
