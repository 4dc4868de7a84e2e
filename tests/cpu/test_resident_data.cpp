// Device-resident training data (distill/resident_data.h) on the CPU: the row gather
// ops::index_rows (values, awkward sizes, i64 rows, f64 gradient checks with repeated indices,
// errors); ResidentLoader batches equal to the host DataLoader's bit for bit (images, labels,
// indices, extras; several epochs, shuffle on/off, a partial last batch, drop_last, 1 and 3
// channels); the residency decision and its errors; and fit() with the resident data giving
// bitwise the weights and history of the host loader (plain training and a soft-label cache).
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/factories.h"
#include "datasets/dataset.h"
#include "datasets/loader.h"
#include "datasets/transforms.h"
#include "distill/distill_loss.h"
#include "distill/resident_data.h"
#include "distill/soft_label_cache.h"
#include "distill/trainer.h"
#include "nn/model.h"
#include "ops/gather.h"
#include "tests/support/checks.h"
#include "tests/support/gradcheck.h"

namespace kdcu {
namespace {

using datasets::Batch;
using datasets::DataLoader;
using datasets::Dataset;
using datasets::LoaderOptions;
using distill::DataResidency;
using distill::ResidentLoader;
using distill::TrainBatches;
using testing::bytes_of;
using testing::differing;
using testing::gradcheck;
using testing::leaf;
using testing::throws_with;

// n noise images C x H x W, labels (i * 5 + 1) % classes.
Dataset noise_set(std::int64_t n, std::int64_t channels, std::int64_t side, std::uint64_t seed) {
  Dataset d;
  d.name = "noise";
  d.channels = channels;
  d.height = d.width = side;
  d.num_classes = 3;
  Generator g(seed);
  for (const float v : rand({n * channels * side * side}, g).to_vector<float>())
    d.images.push_back(static_cast<std::uint8_t>(255.0f * v));
  for (std::int64_t i = 0; i < n; ++i) d.labels.push_back((i * 5 + 1) % 3);
  d.validate();
  return d;
}

// ---- the row gather -------------------------------------------------------------------------

TEST(IndexRows, HandComputedRowsOfEveryDtype) {
  const Tensor x = from_vector<double>({0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32}, {4, 3});
  const Tensor idx = from_vector<std::int64_t>({2, 0, 2, 3}, {4});
  const Tensor y = ops::index_rows(x, idx);
  EXPECT_EQ(y.shape(), (Shape{4, 3}));
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{20, 21, 22, 0, 1, 2, 20, 21, 22, 30, 31, 32}));
  EXPECT_EQ(ops::index_rows(x.to(DType::F32), idx).to_vector<float>(),
            (std::vector<float>{20, 21, 22, 0, 1, 2, 20, 21, 22, 30, 31, 32}));
  const Tensor labels = from_vector<std::int64_t>({7, 8, 9}, {3});
  EXPECT_EQ(ops::index_rows(labels, from_vector<std::int64_t>({1, 1, 0, 2, 2}, {5})).to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{8, 8, 7, 9, 9}));
}

TEST(IndexRows, AwkwardSizes) {
  Generator g(3);
  // Rows of 1, of a 4-D sample (3 x 5 x 7), none selected, one row of many, indices from a view.
  for (const Shape& shape : std::vector<Shape>{{9}, {9, 1}, {6, 3, 5, 7}, {1, 1000}, {33, 17}}) {
    const Tensor x = randn(shape, g, DType::F32);
    const std::int64_t n = shape[0];
    for (std::int64_t rows : {std::int64_t{0}, std::int64_t{1}, n, 2 * n + 3}) {
      std::vector<std::int64_t> iv;
      for (std::int64_t k = 0; k < rows; ++k) iv.push_back((k * 7 + 3) % n);
      const Tensor idx = from_vector<std::int64_t>(iv, {rows});
      const Tensor y = ops::index_rows(x, idx);
      Shape want = shape;
      want[0] = rows;
      ASSERT_EQ(y.shape(), want);
      const std::int64_t cols = x.numel() / n;
      const std::vector<float> xv = x.to_vector<float>(), yv = y.to_vector<float>();
      for (std::int64_t k = 0; k < rows; ++k)
        for (std::int64_t c = 0; c < cols; ++c)
          ASSERT_EQ(yv[static_cast<size_t>(k * cols + c)], xv[static_cast<size_t>(iv[k] * cols + c)])
              << shape_str(shape) << " row " << k;
    }
  }
  // Indices that are a slice (non-zero offset) of a longer tensor.
  const Tensor x = arange(0.0, 10.0, 1.0, DType::F64).reshape({5, 2});
  const Tensor all = from_vector<std::int64_t>({4, 3, 2, 1, 0}, {5});
  EXPECT_EQ(ops::index_rows(x, all.slice(2, 4)).to_vector<double>(), (std::vector<double>{4, 5, 2, 3}));
}

TEST(IndexRowsGrad, F64WithRepeatedIndices) {
  const Tensor idx = from_vector<std::int64_t>({3, 0, 3, 1, 3}, {5});  // row 2 never read, row 3 thrice
  EXPECT_TRUE(gradcheck([&](const std::vector<Tensor>& in) { return ops::index_rows(in[0], idx); }, {leaf({4, 3}, 1)}));
  EXPECT_TRUE(
      gradcheck([&](const std::vector<Tensor>& in) { return ops::index_rows(in[0], idx); }, {leaf({4, 2, 3}, 2)}));
  EXPECT_TRUE(gradcheck([&](const std::vector<Tensor>& in) { return ops::index_rows(in[0], idx.slice(1, 3)); },
                        {leaf({4}, 3)}));
  // The gradient by hand: rows never gathered get zero, a repeated row the sum.
  Tensor x = leaf({4, 2}, 4);
  ops::index_rows(x, idx).backward(full({5, 2}, 1.0, DType::F64));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 1, 1, 1, 0, 0, 3, 3}));
  Tensor y = leaf({3, 2}, 5);  // no row gathered: a zero gradient of y's shape
  ops::index_rows(y, zeros({0}, DType::I64)).backward(zeros({0, 2}, DType::F64));
  EXPECT_EQ(y.grad().to_vector<double>(), (std::vector<double>(6, 0.0)));
}

TEST(IndexRows, Errors) {
  const Tensor x = zeros({4, 2}, DType::F32);
  EXPECT_TRUE(throws_with<ValueError>(
      [&] {
        ops::index_rows(x, from_vector<std::int64_t>({0, 4}, {2}));
      },
      "index 4 at position 1 is outside [0, 4)"));
  EXPECT_TRUE(throws_with<ValueError>([&] { ops::index_rows(x, from_vector<std::int64_t>({-1}, {1})); },
                                      "index -1 at position 0"));
  EXPECT_TRUE(throws_with<DTypeError>([&] { ops::index_rows(x, zeros({2}, DType::F32)); }, "indices must be i64"));
  EXPECT_TRUE(throws_with<ShapeError>([&] { ops::index_rows(x, zeros({1, 2}, DType::I64)); }, "must be 1-D"));
  EXPECT_TRUE(throws_with<ShapeError>([&] { ops::index_rows(full({}, 1.0), zeros({1}, DType::I64)); }, "scalar"));
}

// ---- resident batches = host batches --------------------------------------------------------

void expect_same_batch(const Batch& host, const Batch& res, const std::string& what) {
  EXPECT_EQ(host.epoch, res.epoch) << what;
  EXPECT_EQ(host.number, res.number) << what;
  ASSERT_EQ(host.images.shape(), res.images.shape()) << what;
  EXPECT_EQ(res.images.dtype(), DType::F32) << what;
  EXPECT_EQ(bytes_of(host.images), bytes_of(res.images)) << what << ": images differ";
  EXPECT_EQ(host.labels.to_vector<std::int64_t>(), res.labels.to_vector<std::int64_t>()) << what;
  EXPECT_EQ(host.indices.to_vector<std::int64_t>(), res.indices.to_vector<std::int64_t>()) << what;
  ASSERT_EQ(host.extras.size(), res.extras.size()) << what;
  for (size_t k = 0; k < host.extras.size(); ++k)
    EXPECT_EQ(bytes_of(host.extras[k]), bytes_of(res.extras[k])) << what << ": extra " << k;
}

struct LoaderCase {
  std::int64_t n, channels, batch;
  bool shuffle, drop_last, normalise;
};

TEST(ResidentLoader, BatchesEqualTheHostLoadersBitForBit) {
  const std::vector<LoaderCase> cases = {
      {37, 1, 8, true, false, true},       // partial last batch of 5
      {37, 1, 8, true, true, true},        // drop_last: 4 batches
      {37, 3, 8, false, false, true},      // in order, 3 channels
      {40, 3, 8, false, true, false},      // even split, x / 255 only
      {5, 1, 64, true, false, true},       // one batch larger than the set
      {4100, 1, 1000, true, false, true},  // more than one upload chunk (4096 rows)
  };
  for (const LoaderCase& c : cases) {
    auto data = std::make_shared<const Dataset>(noise_set(c.n, c.channels, 6, 11 + c.n));
    LoaderOptions o;
    o.batch_size = c.batch;
    o.shuffle = c.shuffle;
    o.drop_last = c.drop_last;
    o.seed = 5;
    o.prefetch = 2;
    if (c.normalise) o.normalization = datasets::compute_normalization(*data);
    Generator g(9);
    const Tensor table = randn({c.n, 3}, g, DType::F32);
    LoaderOptions with_table = o;
    with_table.transform = [table](Batch& b) { b.extras.push_back(distill::gather_rows(table, b.indices)); };
    DataLoader host(data, with_table);
    ResidentLoader res(data, o, {table});
    EXPECT_EQ(res.batches_per_epoch(), host.batches_per_epoch());
    EXPECT_EQ(res.samples_per_epoch(), host.samples_per_epoch());
    EXPECT_EQ(res.bytes(), c.n * c.channels * 36 * 4 + c.n * 8 + c.n * 3 * 4);
    for (std::int64_t epoch : {0, 1, 2}) {
      host.start_epoch(epoch);
      res.start_epoch(epoch);
      Batch hb, rb;
      std::int64_t count = 0;
      while (host.next(hb)) {
        const std::string what = "n " + std::to_string(c.n) + " batch " + std::to_string(c.batch) + " epoch " +
                                 std::to_string(epoch) + " number " + std::to_string(count);
        ASSERT_TRUE(res.next(rb)) << what;
        expect_same_batch(hb, rb, what);
        ++count;
      }
      EXPECT_FALSE(res.next(rb)) << "the resident loader has a batch more";
      EXPECT_EQ(count, host.batches_per_epoch());
    }
  }
}

TEST(ResidentLoader, TrainBatchesHostAndDeviceAgree) {
  auto data = std::make_shared<const Dataset>(noise_set(29, 1, 5, 4));
  LoaderOptions o;
  o.batch_size = 6;
  o.seed = 3;
  Generator g(2);
  const std::vector<Tensor> tables = {randn({29, 4}, g, DType::F32), randn({29, 2}, g, DType::F32)};
  TrainBatches host(data, o, DataResidency::Host, tables), dev(data, o, DataResidency::Device, tables),
      automatic(data, o, DataResidency::Auto, tables);
  EXPECT_FALSE(host.resident());
  EXPECT_TRUE(dev.resident());
  EXPECT_FALSE(automatic.resident()) << "auto keeps the host loader on the CPU";
  EXPECT_EQ(automatic.decision().why, "auto keeps the host loader on the CPU");
  for (std::int64_t epoch : {0, 3}) {
    host.start_epoch(epoch);
    dev.start_epoch(epoch);
    Batch hb, db;
    while (host.next(hb)) {
      ASSERT_TRUE(dev.next(db));
      expect_same_batch(hb, db, "epoch " + std::to_string(epoch) + " batch " + std::to_string(hb.number));
    }
    EXPECT_FALSE(dev.next(db));
  }
}

TEST(ResidentLoader, DecisionAndErrors) {
  const Dataset d = noise_set(10, 1, 4, 1);
  auto data = std::make_shared<const Dataset>(d);
  LoaderOptions o;
  const std::vector<Tensor> none;
  LoaderOptions aug = o;
  aug.augmentation.crop_padding = 2;
  EXPECT_TRUE(throws_with<ValueError>([&] { distill::decide_residency(DataResidency::Device, d, aug, none); },
                                      "data residency 'device' is not possible: random augmentation (crop padding 2"));
  EXPECT_TRUE(throws_with<ValueError>([&] { TrainBatches t(data, aug, DataResidency::Device); },
                                      "draws per-sample parameters on the host"));
  EXPECT_TRUE(throws_with<ValueError>([&] { ResidentLoader r(data, aug); }, "random augmentation"));
  LoaderOptions flip = o;
  flip.augmentation.horizontal_flip = true;
  EXPECT_TRUE(throws_with<ValueError>([&] { distill::decide_residency(DataResidency::Device, d, flip, none); },
                                      "horizontal flip on"));
  LoaderOptions hook = o;
  hook.transform = [](Batch&) {};
  EXPECT_TRUE(throws_with<ValueError>([&] { ResidentLoader r(data, hook); }, "LoaderOptions::transform"));
  // Too large for the limit: an error when asked for, the host loader under auto.
  const std::int64_t bytes = distill::resident_bytes(d, none);
  EXPECT_EQ(bytes, 10 * 16 * 4 + 10 * 8);
  EXPECT_TRUE(throws_with<ValueError>([&] { distill::decide_residency(DataResidency::Device, d, o, none, bytes - 1); },
                                      "more than the limit"));
  EXPECT_TRUE(distill::decide_residency(DataResidency::Device, d, o, none, bytes).resident);
  LoaderOptions cuda = o;
  cuda.device = Device::cuda();  // only decided here, nothing is allocated
  EXPECT_TRUE(distill::decide_residency(DataResidency::Auto, d, cuda, none).resident);
  EXPECT_FALSE(distill::decide_residency(DataResidency::Auto, d, cuda, none, bytes - 1).resident);
  LoaderOptions cuda_aug = aug;
  cuda_aug.device = Device::cuda();
  const distill::ResidencyDecision a = distill::decide_residency(DataResidency::Auto, d, cuda_aug, none);
  EXPECT_FALSE(a.resident);
  EXPECT_NE(a.why.find("random augmentation"), std::string::npos) << a.why;
  EXPECT_FALSE(distill::decide_residency(DataResidency::Host, d, cuda, none).resident);
  // A table with the wrong row count, next() before start_epoch, names.
  EXPECT_TRUE(throws_with<ShapeError>([&] { ResidentLoader r(data, o, {zeros({9, 2})}); }, "one row per sample (10)"));
  ResidentLoader r(data, o);
  Batch b;
  EXPECT_TRUE(throws_with<ValueError>([&] { r.next(b); }, "call start_epoch"));
  EXPECT_EQ(distill::parse_residency("device"), DataResidency::Device);
  EXPECT_STREQ(distill::residency_name(DataResidency::Auto), "auto");
  EXPECT_TRUE(throws_with<ValueError>([] { distill::parse_residency("gpu"); }, "auto, host or device, found 'gpu'"));
}

// ---- training with the resident data --------------------------------------------------------

nn::ModelPtr make(const std::string& name, std::uint64_t seed) {
  nn::ModelConfig c;
  c.in_channels = 1;
  c.image_size = 8;
  c.num_classes = 3;
  Generator gen(seed);
  return nn::create_model(name, c, gen);
}

distill::TrainConfig config(DataResidency r) {
  distill::TrainConfig c;
  c.epochs = 2;
  c.batch_size = 16;  // 50 samples: a partial last batch of 2
  c.eval_batch_size = 20;
  c.optim.optimizer = "sgd";
  c.optim.lr = 0.05;
  c.optim.momentum = 0.9;
  c.seed = 17;
  c.prefetch = 2;
  c.data_residency = r;
  return c;
}

struct Messages : distill::TrainObserver {
  std::vector<std::string> lines;
  void on_message(const std::string& line) override { lines.push_back(line); }
  bool said(const std::string& needle) const {
    for (const std::string& m : lines)
      if (m.find(needle) != std::string::npos) return true;
    return false;
  }
};

TEST(ResidentTraining, SameWeightsAsTheHostLoader) {
  const Dataset train = noise_set(50, 1, 8, 21), eval = noise_set(20, 1, 8, 22);
  const datasets::Normalization norm = datasets::compute_normalization(train);
  distill::LossConfig plain;
  plain.kd_weight = 0.0;
  plain.ce_weight = 1.0;
  distill::LossConfig kd;
  kd.kd_weight = 0.6;
  kd.ce_weight = 0.4;
  kd.temperature = {2.0, 2.0, distill::ScheduleShape::Constant};
  const nn::ModelPtr teacher = make("cnn_small", 99);
  for (const bool distil : {false, true}) {
    SCOPED_TRACE(distil ? "distillation from the soft-label cache" : "plain training");
    std::vector<nn::ModelPtr> students;
    std::vector<distill::TrainResult> results;
    for (const DataResidency r : {DataResidency::Host, DataResidency::Device}) {
      students.push_back(make("cnn_small", 5));
      Generator lg(0);
      std::vector<nn::Model*> teachers;
      if (distil) teachers.push_back(teacher.get());
      distill::DistillLoss loss(distil ? kd : plain, *students.back(), teachers, lg);
      Messages m;
      results.push_back(distill::fit(*students.back(), teachers, loss, train, eval, norm, config(r), &m));
      EXPECT_EQ(results.back().used_cache, distil);
      EXPECT_TRUE(m.said(r == DataResidency::Device ? "training data: resident on cpu" : "training data: host loader"));
    }
    EXPECT_EQ(differing(students[0]->state_dict(), students[1]->state_dict()), "");
    ASSERT_EQ(results[0].history.size(), results[1].history.size());
    for (size_t e = 0; e < results[0].history.size(); ++e) {
      EXPECT_EQ(results[0].history[e].train_loss, results[1].history[e].train_loss);
      EXPECT_EQ(results[0].history[e].eval_accuracy, results[1].history[e].eval_accuracy);
    }
  }
}

TEST(ResidentTraining, AugmentationWithDeviceResidencyIsAnError) {
  const Dataset train = noise_set(20, 1, 8, 31), eval = noise_set(10, 1, 8, 32);
  const auto student = make("cnn_small", 1);
  Generator lg(0);
  distill::LossConfig plain;
  plain.kd_weight = 0.0;
  plain.ce_weight = 1.0;
  distill::DistillLoss loss(plain, *student, {}, lg);
  distill::TrainConfig c = config(DataResidency::Device);
  c.augmentation.horizontal_flip = true;
  EXPECT_TRUE(throws_with<ValueError>(
      [&] { distill::fit(*student, {}, loss, train, eval, datasets::compute_normalization(train), c); },
      "data residency 'device' is not possible: random augmentation"));
}

TEST(ResidentData, DeviceMemoryBlockerKeepsThreeQuartersFree) {
  const Device gpu = Device::cuda(1);
  EXPECT_EQ(distill::device_memory_blocker(250, 1000, "d", gpu), "");
  EXPECT_EQ(distill::device_memory_blocker(0, 0, "d", gpu), "");
  const std::string why = distill::device_memory_blocker(std::int64_t{3} << 30, std::int64_t{8} << 30, "fmnist", gpu);
  EXPECT_NE(why.find("the resident copy of fmnist would take 3072 MiB, more than a quarter of the 8192 MiB free on "
                     "cuda:1"),
            std::string::npos)
      << why;
}

}  // namespace
}  // namespace kdcu
