// The real Fashion-MNIST from Debian's dataset-fashion-mnist, where it is installed: counts,
// shapes, the label histogram, the first training image's checksum (computed independently, see
// below), the published normalisation statistics, and one full loader epoch over the test set.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/hash.h"
#include "datasets/file_io.h"
#include "datasets/loader.h"
#include "datasets/registry.h"

namespace kdcu {
namespace datasets {
namespace {

#define REQUIRE_FASHION_MNIST()                                                                                  \
  do {                                                                                                           \
    const std::string dir = default_data_dir("fashion-mnist");                                                   \
    if (!file_exists(dir + "/train-images-idx3-ubyte.gz") && !file_exists(dir + "/train-images-idx3-ubyte"))     \
      GTEST_SKIP() << "Fashion-MNIST is not installed at " << dir << " (apt-get install dataset-fashion-mnist)"; \
  } while (0)

const NamedDataset& fashion() {
  static const NamedDataset d = load_dataset("fashion-mnist");
  return d;
}

TEST(FashionMnistReal, CountsShapesAndHistogram) {
  REQUIRE_FASHION_MNIST();
  const NamedDataset& d = fashion();
  EXPECT_EQ(d.train.size(), 60000);
  EXPECT_EQ(d.test.size(), 10000);
  for (const Dataset* s : {&d.train, &d.test}) {
    EXPECT_EQ(s->channels, 1);
    EXPECT_EQ(s->height, 28);
    EXPECT_EQ(s->width, 28);
    EXPECT_EQ(s->images.size(), static_cast<size_t>(s->size()) * 784);
  }
  EXPECT_EQ(label_histogram(d.train), std::vector<std::int64_t>(10, 6000));
  EXPECT_EQ(label_histogram(d.test), std::vector<std::int64_t>(10, 1000));
  EXPECT_EQ(d.class_names.at(9), "Ankle boot");
}

TEST(FashionMnistReal, FirstTrainingImageChecksum) {
  REQUIRE_FASHION_MNIST();
  // Computed with /usr/bin/python3 from the Debian files, without kdcu:
  //   with gzip.open('train-images-idx3-ubyte.gz') as f: f.read(16); img = f.read(784)
  //   sum(img) -> 76247; FNV-1a 64 over img (h ^= b; h *= 0x100000001b3 mod 2^64) -> 0x01fdf72590541338
  //   and the first label (train-labels-idx1-ubyte.gz, after 8 header bytes) -> 9
  const Dataset& t = fashion().train;
  std::uint64_t sum = 0;
  for (int p = 0; p < 784; ++p) sum += t.image(0)[p];
  EXPECT_EQ(sum, 76247u);
  EXPECT_EQ(fnv1a(t.image(0), 784), 0x01fdf72590541338ull);
  EXPECT_EQ(t.labels[0], 9);
}

TEST(FashionMnistReal, PublishedStatisticsMatchTheData) {
  REQUIRE_FASHION_MNIST();
  const Normalization computed = compute_normalization(fashion().train);
  const Normalization known = fashion().normalization();
  EXPECT_NEAR(computed.mean[0], known.mean[0], 5e-4);
  EXPECT_NEAR(computed.std[0], known.std[0], 5e-4);
}

TEST(FashionMnistReal, OneLoaderEpochCoversTheTestSet) {
  REQUIRE_FASHION_MNIST();
  auto test = std::make_shared<const Dataset>(fashion().test);
  LoaderOptions o;
  o.batch_size = 256;
  o.normalization = fashion().normalization();
  o.augmentation = {2, true};
  DataLoader l(test, o);
  l.start_epoch(0);
  std::vector<int> seen(10000, 0);
  Batch b;
  double sum = 0.0;
  while (l.next(b)) {
    for (std::int64_t i : b.indices.to_vector<std::int64_t>()) ++seen[static_cast<size_t>(i)];
    for (float v : b.images.to_vector<float>()) sum += v;
  }
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), 10000);
  // Normalised pixels average near 0 (the padding adds a little more black).
  EXPECT_LT(std::fabs(sum / (10000.0 * 784)), 0.2);
}

}  // namespace
}  // namespace datasets
}  // namespace kdcu
