// The named-dataset registry on small data the tests write: Fashion-MNIST/MNIST layouts with a
// --data override, class names and known statistics, label ranges, CIFAR defaults, folder data
// sets (train/test, the folder/--data rules), and the errors that say how to get the data.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "datasets/idx.h"
#include "datasets/registry.h"
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
  TempDir() : testing::TempDir("registry") {}
};

// The four standard gzip'ed IDX files of n_train / n_test 4x4 images with labels i % classes.
void write_mnist_like(const std::string& dir, std::int64_t n_train, std::int64_t n_test, int max_label = 9) {
  for (const auto& [prefix, n] : {std::pair<std::string, std::int64_t>{"train", n_train}, {"t10k", n_test}}) {
    Bytes px(static_cast<size_t>(n * 16)), labels(static_cast<size_t>(n));
    for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<std::uint8_t>(i * 13);
    for (std::int64_t i = 0; i < n; ++i)
      labels[static_cast<size_t>(i)] = static_cast<std::uint8_t>(i % (max_label + 1));
    write_idx(dir + "/" + prefix + "-images-idx3-ubyte.gz", {n, 4, 4}, px.data(), true);
    write_idx(dir + "/" + prefix + "-labels-idx1-ubyte.gz", {n}, labels.data(), true);
  }
}

TEST(RegistryTest, FashionMnistFromADataOverride) {
  TempDir t;
  write_mnist_like(t.path.string(), 30, 20);
  const NamedDataset d = load_dataset("fashion-mnist", t.path.string());
  EXPECT_EQ(d.name, "fashion-mnist");
  EXPECT_EQ(d.dir, t.path.string());
  EXPECT_EQ(d.train.size(), 30);
  EXPECT_EQ(d.test.size(), 20);
  EXPECT_EQ(d.train.name, "fashion-mnist/train");
  ASSERT_EQ(d.class_names.size(), 10u);
  EXPECT_EQ(d.class_names[0], "T-shirt/top");
  EXPECT_EQ(d.class_names[9], "Ankle boot");
  EXPECT_EQ(d.test.class_names, d.class_names);
  EXPECT_EQ(d.train.num_classes, 10);
  ASSERT_TRUE(d.known_normalization.has_value());
  EXPECT_DOUBLE_EQ(d.normalization().mean.at(0), 0.2860);
  EXPECT_DOUBLE_EQ(d.normalization().std.at(0), 0.3530);
}

TEST(RegistryTest, FewerLabelsStillTenClassesButMoreIsAnError) {
  TempDir t;
  write_mnist_like(t.path.string(), 6, 4, 3);
  EXPECT_EQ(load_dataset("mnist", t.path.string()).train.num_classes, 10);
  write_mnist_like(t.path.string(), 20, 4, 12);
  EXPECT_TRUE(throws_with<IoError>([&] { load_dataset("mnist", t.path.string()); },
                                   "holds label 12, expected labels 0-9 for mnist/train"));
}

TEST(RegistryTest, MissingDataSaysHowToGetIt) {
  EXPECT_TRUE(throws_with<IoError>([] { load_dataset("fashion-mnist", "/nonexistent/fm"); },
                                   "fashion-mnist: directory /nonexistent/fm does not exist; install it with "
                                   "`apt-get install dataset-fashion-mnist`"));
  EXPECT_TRUE(throws_with<IoError>([] { load_dataset("mnist", "/nonexistent/m"); }, "--data DIR"));
  EXPECT_TRUE(throws_with<IoError>([] { load_dataset("cifar10", "/nonexistent/c"); }, "cifar-10-binary.tar.gz"));
  TempDir t;
  write_mnist_like(t.path.string(), 3, 3);
  fs::remove(t.file("t10k-labels-idx1-ubyte.gz"));
  EXPECT_TRUE(throws_with<IoError>([&] { load_dataset("fashion-mnist", t.path.string()); },
                                   "t10k-labels-idx1-ubyte.gz exists; install it with `apt-get install "
                                   "dataset-fashion-mnist`"));
}

TEST(RegistryTest, NamesAndDefaults) {
  EXPECT_EQ(default_data_dir("fashion-mnist"), "/usr/share/datasets/fashion-mnist");
  EXPECT_EQ(default_data_dir("cifar10"), "data/cifar-10-batches-bin");
  EXPECT_EQ(dataset_names().size(), 5u);
  EXPECT_TRUE(throws_with<ValueError>([] { load_dataset("imagenet"); },
                                      "unknown data set 'imagenet' (expected fashion-mnist, mnist, cifar10, "
                                      "cifar100 or folder:PATH)"));
  EXPECT_TRUE(throws_with<ValueError>([] { default_data_dir("svhn"); }, "unknown data set 'svhn'"));
}

TEST(RegistryTest, Cifar10WithoutMetaGetsThePublishedNames) {
  TempDir t;
  Bytes rec(3073, 17);
  rec[0] = 3;
  for (int b = 1; b <= 5; ++b)
    std::ofstream(t.file("data_batch_" + std::to_string(b) + ".bin"), std::ios::binary)
        .write(reinterpret_cast<const char*>(rec.data()), 3073);
  std::ofstream(t.file("test_batch.bin"), std::ios::binary).write(reinterpret_cast<const char*>(rec.data()), 3073);
  const NamedDataset d = load_dataset("cifar10", t.path.string());
  EXPECT_EQ(d.train.size(), 5);
  EXPECT_EQ(d.test.size(), 1);
  ASSERT_EQ(d.class_names.size(), 10u);
  EXPECT_EQ(d.class_names[3], "cat");
  EXPECT_EQ(d.normalization().mean.size(), 3u);
}

void png(const std::string& path, int w, int h, std::uint8_t value) {
  const Bytes px(static_cast<size_t>(w * h), value);
  ASSERT_NE(stbi_write_png(path.c_str(), w, h, 1, px.data(), w), 0);
}

TEST(RegistryTest, FolderDataSet) {
  TempDir t;
  for (const std::string split : {"train", "test"})
    for (const std::string cls : {"cat", "dog"}) t.dir("imgs/" + split + "/" + cls);
  png(t.file("imgs/train/cat/1.png"), 3, 3, 10);
  png(t.file("imgs/train/dog/1.png"), 3, 3, 200);
  png(t.file("imgs/test/cat/1.png"), 3, 3, 12);
  png(t.file("imgs/test/dog/1.png"), 3, 3, 202);
  const std::string root = t.file("imgs");
  const NamedDataset d = load_dataset("folder:" + root);
  EXPECT_EQ(d.name, "folder:" + root);
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(d.train.size(), 2);
  EXPECT_EQ(d.test.size(), 2);
  EXPECT_FALSE(d.known_normalization.has_value());
  EXPECT_NEAR(d.normalization().mean.at(0), 105.0 / 255, 1e-12);  // computed from train
  EXPECT_EQ(load_dataset("folder", root).train.size(), 2);        // the path from --data
  EXPECT_TRUE(throws_with<ValueError>([&] { load_dataset("folder:" + root, "/elsewhere"); }, "disagree"));
  EXPECT_TRUE(throws_with<ValueError>([] { load_dataset("folder"); }, "expected folder:PATH or --data PATH"));
  fs::rename(t.file("imgs/test"), t.file("imgs/val"));  // val/ stands in for test/
  EXPECT_EQ(load_dataset("folder:" + root).test.size(), 2);
  t.dir("imgs/val/emu");
  png(t.file("imgs/val/emu/1.png"), 3, 3, 1);
  EXPECT_TRUE(throws_with<IoError>([&] { load_dataset("folder:" + root); },
                                   "has class folders [cat, dog] but " + t.file("imgs/val") + " has [cat, dog, emu]"));
  fs::remove_all(t.file("imgs/val"));
  EXPECT_TRUE(throws_with<IoError>([&] { load_dataset("folder:" + root); },
                                   t.file("imgs/test") + " does not exist; a folder data set is PATH/train/<class>"));
}

}  // namespace
}  // namespace datasets
}  // namespace kdcu
