// DataLoader: every sample exactly once per epoch with the right image and label, per-epoch
// shuffles reproducible from the seed (resume at epoch k), drop_last, the same batches with and
// without the background thread, shutdown mid-epoch, and worker exceptions reaching next().
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "core/cuda_runtime.h"
#include "core/error.h"
#include "datasets/loader.h"
#include "tests/support/checks.h"

namespace kdcu {
namespace datasets {
namespace {

using kdcu::testing::throws_with;

// n images 1 x 3 x 4: pixel p of image i = (i + 5 * p) % 256; label i % 7.
std::shared_ptr<const Dataset> synthetic(std::int64_t n, std::int64_t c = 1) {
  auto d = std::make_shared<Dataset>();
  d->name = "synthetic";
  d->channels = c;
  d->height = 3;
  d->width = 4;
  d->num_classes = 7;
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t p = 0; p < c * 12; ++p) d->images.push_back(static_cast<std::uint8_t>((i + 5 * p) % 256));
    d->labels.push_back(i % 7);
  }
  return d;
}

std::vector<Batch> epoch(DataLoader& l, std::int64_t e) {
  l.start_epoch(e);
  std::vector<Batch> out;
  Batch b;
  while (l.next(b)) out.push_back(b);
  return out;
}

std::vector<std::int64_t> indices_of(const std::vector<Batch>& batches) {
  std::vector<std::int64_t> out;
  for (const Batch& b : batches) {
    const std::vector<std::int64_t> v = b.indices.to_vector<std::int64_t>();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

TEST(DataLoaderTest, EverySampleOncePerEpochWithItsImageAndLabel) {
  const auto data = synthetic(103);
  LoaderOptions o;
  o.batch_size = 10;
  o.seed = 3;
  DataLoader l(data, o);
  EXPECT_EQ(l.batches_per_epoch(), 11);
  EXPECT_EQ(l.samples_per_epoch(), 103);
  const std::vector<Batch> batches = epoch(l, 0);
  ASSERT_EQ(batches.size(), 11u);
  EXPECT_EQ(batches.back().images.shape(), (Shape{3, 1, 3, 4}));
  std::vector<std::int64_t> seen = indices_of(batches);
  EXPECT_EQ(seen, l.epoch_order(0));
  std::sort(seen.begin(), seen.end());
  for (std::int64_t i = 0; i < 103; ++i) ASSERT_EQ(seen[static_cast<size_t>(i)], i);
  for (const Batch& b : batches) {
    EXPECT_EQ(b.epoch, 0);
    EXPECT_EQ(b.images.dtype(), DType::F32);
    EXPECT_EQ(b.labels.dtype(), DType::I64);
    const std::vector<std::int64_t> idx = b.indices.to_vector<std::int64_t>();
    const std::vector<std::int64_t> lab = b.labels.to_vector<std::int64_t>();
    const std::vector<float> img = b.images.to_vector<float>();
    for (size_t k = 0; k < idx.size(); ++k) {
      EXPECT_EQ(lab[k], data->labels[static_cast<size_t>(idx[k])]);
      for (int p = 0; p < 12; ++p)
        ASSERT_EQ(img[k * 12 + static_cast<size_t>(p)], static_cast<float>(data->image(idx[k])[p] / 255.0));
    }
  }
  EXPECT_EQ(batches[4].number, 4);
}

TEST(DataLoaderTest, ShuffleChangesPerEpochAndResumesFromTheSeed) {
  const auto data = synthetic(64);
  LoaderOptions o;
  o.batch_size = 8;
  o.seed = 11;
  DataLoader a(data, o);
  const std::vector<std::int64_t> e0 = indices_of(epoch(a, 0)), e1 = indices_of(epoch(a, 1));
  EXPECT_NE(e0, e1);
  DataLoader resumed(data, o);  // a fresh loader that starts at epoch 1 reproduces it
  EXPECT_EQ(indices_of(epoch(resumed, 1)), e1);
  o.seed = 12;
  DataLoader other(data, o);
  EXPECT_NE(indices_of(epoch(other, 0)), e0);
  o.shuffle = false;
  DataLoader ordered(data, o);
  const std::vector<std::int64_t> in_order = indices_of(epoch(ordered, 5));
  EXPECT_TRUE(std::is_sorted(in_order.begin(), in_order.end()));
  EXPECT_EQ(in_order.size(), 64u);
}

TEST(DataLoaderTest, DropLast) {
  const auto data = synthetic(103);
  LoaderOptions o;
  o.batch_size = 10;
  o.drop_last = true;
  DataLoader l(data, o);
  EXPECT_EQ(l.batches_per_epoch(), 10);
  EXPECT_EQ(l.samples_per_epoch(), 100);
  const std::vector<Batch> batches = epoch(l, 0);
  ASSERT_EQ(batches.size(), 10u);
  for (const Batch& b : batches) EXPECT_EQ(b.images.size(0), 10);
  o.batch_size = 200;
  DataLoader none(data, o);
  EXPECT_TRUE(epoch(none, 0).empty());
}

TEST(DataLoaderTest, BackgroundThreadGivesTheSameBatchesAsSynchronous) {
  const auto data = synthetic(50, 3);
  LoaderOptions o;
  o.batch_size = 7;
  o.seed = 5;
  o.augmentation = {2, true};
  o.normalization = {{0.5, 0.4, 0.3}, {0.2, 0.25, 0.3}};
  o.prefetch = 0;
  DataLoader sync(data, o);
  o.prefetch = 3;
  DataLoader async(data, o);
  for (std::int64_t e : {0, 2}) {
    const std::vector<Batch> s = epoch(sync, e), a = epoch(async, e);
    ASSERT_EQ(s.size(), a.size());
    for (size_t k = 0; k < s.size(); ++k) {
      EXPECT_EQ(s[k].images.to_vector<float>(), a[k].images.to_vector<float>());
      EXPECT_EQ(s[k].indices.to_vector<std::int64_t>(), a[k].indices.to_vector<std::int64_t>());
    }
  }
  EXPECT_EQ(sync.stats().waits, 0);
  EXPECT_EQ(sync.stats().batches, 16);
}

TEST(DataLoaderTest, AugmentedBatchIsTransformImageOfEachSample) {
  const auto data = synthetic(20, 2);
  LoaderOptions o;
  o.batch_size = 6;
  o.seed = 9;
  o.augmentation = {1, true};
  o.normalization = {{0.1, 0.2}, {0.5, 0.6}};
  DataLoader l(data, o);
  const std::vector<float> table = normalization_table(o.normalization, 2);
  int flipped = 0;
  for (const Batch& b : epoch(l, 4)) {
    const std::vector<float> img = b.images.to_vector<float>();
    const std::vector<std::int64_t> idx = b.indices.to_vector<std::int64_t>();
    for (size_t k = 0; k < idx.size(); ++k) {
      const AugmentParams p = sample_augment(o.augmentation, 9, 4, idx[k]);
      flipped += p.flip;
      std::vector<float> want(24);
      transform_image(data->image(idx[k]), 2, 3, 4, table.data(), 1, p, want.data());
      ASSERT_TRUE(std::equal(want.begin(), want.end(), img.begin() + static_cast<long>(k * 24))) << "sample " << idx[k];
    }
  }
  EXPECT_GT(flipped, 0);
  EXPECT_LT(flipped, 20);
}

TEST(DataLoaderTest, RestartAndDestroyMidEpoch) {
  const auto data = synthetic(5000);
  LoaderOptions o;
  o.batch_size = 16;
  o.prefetch = 2;
  {
    DataLoader l(data, o);
    l.start_epoch(0);
    Batch first, second, again;
    ASSERT_TRUE(l.next(first));
    ASSERT_TRUE(l.next(second));
    l.start_epoch(0);  // abandons the rest of the epoch
    ASSERT_TRUE(l.next(again));
    EXPECT_EQ(again.number, 0);
    EXPECT_EQ(again.indices.to_vector<std::int64_t>(), first.indices.to_vector<std::int64_t>());
  }  // destroyed with the worker blocked on a full queue
  std::atomic<int> built{0};
  o.transform = [&](Batch&) {
    ++built;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  };
  const auto t0 = std::chrono::steady_clock::now();
  {
    DataLoader l(data, o);
    l.start_epoch(0);
    Batch b;
    ASSERT_TRUE(l.next(b));
  }  // destroyed while the worker is inside a batch
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(built.load(), 10);  // it stopped instead of building the other ~300 batches
  EXPECT_LT(seconds, 5.0);
}

TEST(DataLoaderTest, WorkerExceptionReachesTheConsumerAfterEarlierBatches) {
  for (int prefetch : {0, 3}) {
    SCOPED_TRACE(prefetch);
    LoaderOptions o;
    o.batch_size = 4;
    o.prefetch = prefetch;
    o.transform = [](Batch& b) {
      if (b.number == 2) throw IoError("disk on fire in batch 2");
    };
    DataLoader l(synthetic(40), o);
    l.start_epoch(0);
    Batch b;
    ASSERT_TRUE(l.next(b));
    ASSERT_TRUE(l.next(b));
    EXPECT_EQ(b.number, 1);
    EXPECT_TRUE(throws_with<IoError>([&] { l.next(b); }, "disk on fire in batch 2"));
    EXPECT_FALSE(l.next(b));  // the epoch ended with the error
    l.start_epoch(1);         // a later epoch works until batch 2 again
    EXPECT_TRUE(l.next(b));
  }
}

TEST(DataLoaderTest, StatsShowASlowConsumerNeverWaits) {
  LoaderOptions o;
  o.batch_size = 8;
  o.prefetch = 4;
  DataLoader l(synthetic(80), o);
  l.start_epoch(0);
  Batch b;
  int n = 0;
  while (l.next(b)) {
    ++n;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // a "training step"
  }
  EXPECT_EQ(n, 10);
  EXPECT_EQ(l.stats().batches, 10);
  EXPECT_LE(l.stats().waits, 2);  // the first batch of the epoch, perhaps
}

TEST(DataLoaderTest, InvalidOptionsAndUsage) {
  const auto data = synthetic(10);
  LoaderOptions o;
  o.batch_size = 0;
  EXPECT_TRUE(throws_with<ValueError>([&] { DataLoader l(data, o); }, "batch_size must be >= 1, found 0"));
  o.batch_size = 2;
  o.prefetch = -1;
  EXPECT_TRUE(throws_with<ValueError>([&] { DataLoader l(data, o); }, "prefetch must be >= 0"));
  o.prefetch = 2;
  o.normalization = {{0.1, 0.2}, {1.0, 1.0}};
  EXPECT_TRUE(throws_with<ValueError>([&] { DataLoader l(data, o); }, "expected 1 or 1 values of mean and std"));
  o.normalization = {};
  EXPECT_TRUE(throws_with<ValueError>([&] { DataLoader l(nullptr, o); }, "no data set"));
  DataLoader l(data, o);
  Batch b;
  EXPECT_TRUE(throws_with<ValueError>([&] { l.next(b); }, "call start_epoch(epoch) before next()"));
}

TEST(DataLoaderTest, DeviceOption) {
  LoaderOptions o;
  o.batch_size = 4;
  o.device = Device::cuda(0);
  if (!cuda::available()) {
    EXPECT_THROW(DataLoader(synthetic(8), o), DeviceError);
    return;
  }
  DataLoader l(synthetic(8), o);
  const std::vector<Batch> batches = epoch(l, 0);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_TRUE(batches[0].images.device().is_cuda());
  EXPECT_TRUE(batches[0].indices.device().is_cuda());
}

}  // namespace
}  // namespace datasets
}  // namespace kdcu
