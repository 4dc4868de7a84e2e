// CIFAR-10/100 binary batches written by the tests: record layout, fine labels, class-name
// files, every missing or malformed-file case as an IoError (message checked), and random
// inputs that must load or throw IoError.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "datasets/cifar.h"
#include "datasets/gzip.h"
#include "tests/support/temp_dir.h"
#include "tests/support/checks.h"

namespace kdcu {
namespace datasets {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;
using kdcu::testing::throws_with;

struct TempDir : testing::TempDir {
  TempDir() : testing::TempDir("cifar") {}
};

void write_bytes(const std::string& path, const Bytes& b) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

void write_text(const std::string& path, const std::string& s) {
  std::ofstream(path, std::ios::trunc) << s;
}

// A record: label byte(s), then pixel p = (seed + p) % 251 so every record and position differs.
Bytes record(std::vector<std::uint8_t> labels, int seed) {
  Bytes r = std::move(labels);
  for (int p = 0; p < 3072; ++p) r.push_back(static_cast<std::uint8_t>((seed + p) % 251));
  return r;
}

Bytes batch10(int first_seed, int count) {
  Bytes b;
  for (int i = 0; i < count; ++i) {
    const Bytes r = record({static_cast<std::uint8_t>((first_seed + i) % 10)}, first_seed + i);
    b.insert(b.end(), r.begin(), r.end());
  }
  return b;
}

void write_cifar10(const TempDir& t) {
  for (int k = 1; k <= 5; ++k) write_bytes(t.file("data_batch_" + std::to_string(k) + ".bin"), batch10(10 * k, 2));
  write_bytes(t.file("test_batch.bin"), batch10(100, 3));
}

TEST(CifarReader, Cifar10DirectoryLoadsEveryBatchInOrder) {
  TempDir t;
  write_cifar10(t);
  write_text(t.file("batches.meta.txt"), "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\r\n\n");
  const Dataset train = load_cifar_dir(t.path.string(), CifarKind::Cifar10, Split::Train, "c10");
  const Dataset test = load_cifar_dir(t.path.string(), CifarKind::Cifar10, Split::Test, "c10");
  EXPECT_EQ(train.name, "c10/train");
  EXPECT_EQ(train.size(), 10);
  EXPECT_EQ(test.size(), 3);
  EXPECT_EQ(train.channels, 3);
  EXPECT_EQ(train.height, 32);
  EXPECT_EQ(train.width, 32);
  EXPECT_EQ(train.num_classes, 10);
  ASSERT_EQ(train.class_names.size(), 10u);
  EXPECT_EQ(train.class_names[9], "truck");  // \r and the blank line are dropped
  // Sample 5 is the second record of data_batch_3 (seed 31): label 1, pixels in [C, H, W] order.
  EXPECT_EQ(train.labels[5], 1);
  const Bytes expected = record({1}, 31);
  for (int p : {0, 1, 1023, 1024, 2048, 3071}) EXPECT_EQ(train.image(5)[p], expected[1 + static_cast<size_t>(p)]);
  EXPECT_EQ(test.labels, (std::vector<std::int64_t>{0, 1, 2}));
}

TEST(CifarReader, Cifar100UsesFineLabelsAndOptionalNames) {
  TempDir t;
  Bytes train = record({3, 42}, 1);
  const Bytes second = record({19, 99}, 2);
  train.insert(train.end(), second.begin(), second.end());
  write_bytes(t.file("train.bin"), train);
  write_bytes(t.file("test.bin"), record({0, 7}, 3));
  const Dataset d = load_cifar_dir(t.path.string(), CifarKind::Cifar100, Split::Train, "c100");
  EXPECT_EQ(d.labels, (std::vector<std::int64_t>{42, 99}));
  EXPECT_EQ(d.num_classes, 100);
  EXPECT_TRUE(d.class_names.empty());
  EXPECT_EQ(d.image(1)[0], second[2]);
  std::string names;
  for (int i = 0; i < 100; ++i) names += "class" + std::to_string(i) + "\n";
  write_text(t.file("fine_label_names.txt"), names);
  const Dataset named = load_cifar_dir(t.path.string(), CifarKind::Cifar100, Split::Test, "c100");
  ASSERT_EQ(named.class_names.size(), 100u);
  EXPECT_EQ(named.class_names[named.labels[0]], "class7");
  const CifarRecords r = parse_cifar(train.data(), train.size(), CifarKind::Cifar100);
  EXPECT_EQ(r.coarse, (std::vector<std::int64_t>{3, 19}));
}

TEST(CifarErrors, MissingDirectoryOrBatchIsNamed) {
  EXPECT_TRUE(throws_with<IoError>(
      [] { load_cifar_dir("/nonexistent/cifar", CifarKind::Cifar10, Split::Train, "cifar10", "get it"); },
      "cifar10: directory /nonexistent/cifar does not exist; get it"));
  TempDir t;
  write_cifar10(t);
  fs::remove(t.file("data_batch_3.bin"));
  EXPECT_TRUE(throws_with<IoError>(
      [&] { load_cifar_dir(t.path.string(), CifarKind::Cifar10, Split::Train, "cifar10", "get it"); },
      t.file("data_batch_3.bin") + " does not exist (a CIFAR-10 binary directory holds data_batch_1.bin ... "
                                   "data_batch_5.bin and test_batch.bin); get it"));
  EXPECT_TRUE(
      throws_with<IoError>([&] { load_cifar_dir(t.path.string(), CifarKind::Cifar100, Split::Test, "cifar100"); },
                           t.file("test.bin") + " does not exist"));
}

TEST(CifarErrors, MalformedBatchesAreIoErrors) {
  TempDir t;
  Bytes one = batch10(0, 2);
  const Bytes cut(one.begin(), one.end() - 100);
  EXPECT_TRUE(throws_with<IoError>([&] { parse_cifar(cut.data(), cut.size(), CifarKind::Cifar10, "b.bin"); },
                                   "b.bin: size 6046 is not a whole number of 3073-byte CIFAR-10 records (1 label "
                                   "byte + 3072 pixel bytes): 1 records and 2973 bytes over"));
  EXPECT_TRUE(
      throws_with<IoError>([&] { parse_cifar(one.data(), 0, CifarKind::Cifar10, "e.bin"); }, "e.bin: empty file"));
  one[3073] = 10;  // second record's label
  EXPECT_TRUE(throws_with<IoError>([&] { parse_cifar(one.data(), one.size(), CifarKind::Cifar10, "l.bin"); },
                                   "l.bin: record 1 (byte 3073) has label 10, expected 0-9"));
  // A CIFAR-10 batch read as CIFAR-100: 6146 bytes is two 3073-byte records but one 3074 + 3072.
  const Bytes ten = batch10(0, 2);
  EXPECT_TRUE(throws_with<IoError>([&] { parse_cifar(ten.data(), ten.size(), CifarKind::Cifar100, "x.bin"); },
                                   "not a whole number of 3074-byte CIFAR-100 records"));
  const Bytes fine = record({1, 100}, 0);
  EXPECT_TRUE(throws_with<IoError>([&] { parse_cifar(fine.data(), fine.size(), CifarKind::Cifar100, "f.bin"); },
                                   "record 0 (byte 1) has fine label 100, expected 0-99"));
  const Bytes coarse = record({20, 1}, 0);
  EXPECT_TRUE(throws_with<IoError>([&] { parse_cifar(coarse.data(), coarse.size(), CifarKind::Cifar100, "c.bin"); },
                                   "has coarse label 20, expected 0-19"));
  const Bytes z = gzip_compress(ten.data(), ten.size());
  EXPECT_TRUE(throws_with<IoError>([&] { parse_cifar(z.data(), z.size(), CifarKind::Cifar10, "z.bin"); },
                                   "z.bin: is gzip-compressed"));
  write_cifar10(t);
  write_text(t.file("batches.meta.txt"), "a\nb\nc\n");
  EXPECT_TRUE(throws_with<IoError>([&] { load_cifar_dir(t.path.string(), CifarKind::Cifar10, Split::Test, "c10"); },
                                   t.file("batches.meta.txt") + ": expected 10 class names (one per line), found 3"));
}

TEST(CifarErrors, RandomInputsLoadOrThrowIoError) {
  std::mt19937 rng(99);
  int loaded = 0;
  for (int trial = 0; trial < 300; ++trial) {
    Bytes b(rng() % 7000);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng() % 12);  // small values: labels often valid
    if (trial % 3 == 0) b.resize(3073 * (1 + rng() % 2));
    for (CifarKind kind : {CifarKind::Cifar10, CifarKind::Cifar100}) {
      try {
        const CifarRecords r = parse_cifar(b.data(), b.size(), kind, "random");
        ASSERT_EQ(r.images.size(), r.labels.size() * 3072);
        ++loaded;
      } catch (const IoError&) {
      }
    }
  }
  EXPECT_GT(loaded, 0);
}

}  // namespace
}  // namespace datasets
}  // namespace kdcu
