// distill/evaluate.h: accuracy, mean cross-entropy, per-class accuracy and the confusion matrix on
// a hand-made case whose predictions are known (a model whose logits are its pixels), and against
// a manual loop over predict_logits for a real model with a partial last batch; the mode is
// restored; data that does not fit the model is a ValueError; measure_latency's numbers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/factories.h"
#include "datasets/dataset.h"
#include "datasets/transforms.h"
#include "distill/evaluate.h"
#include "nn/model.h"
#include "ops/loss.h"
#include "ops/reduce.h"
#include "tests/support/checks.h"

namespace kdcu {
namespace {

using testing::throws_with;

// Logits = the image's pixels, flattened: with 1x2x2 images, 4 classes, the prediction is the
// brightest pixel.
class PixelModel : public nn::Model {
 public:
  explicit PixelModel(const nn::ModelConfig& c) : Model("PixelModel", c) {}
  Tensor forward_features(const Tensor& x, nn::NamedTensors* features) override {
    Tensor y = x.flatten(1);
    if (features) features->emplace_back("pixels", y);
    return y;
  }
  std::vector<std::string> feature_names() const override { return {"pixels"}; }
};

nn::ModelConfig pixel_config() {
  nn::ModelConfig c;
  c.in_channels = 1;
  c.image_size = 2;
  c.num_classes = 4;
  return c;
}

// Sample i: pixel preds[i] is 200, the others 50, 30, 10 in order.
datasets::Dataset pixel_set(const std::vector<int>& preds, const std::vector<std::int64_t>& labels) {
  datasets::Dataset d;
  d.name = "pixels";
  d.channels = 1;
  d.height = d.width = 2;
  d.num_classes = 4;
  for (size_t i = 0; i < preds.size(); ++i) {
    const std::uint8_t rest[3] = {50, 30, 10};
    int r = 0;
    for (int p = 0; p < 4; ++p) d.images.push_back(p == preds[i] ? 200 : rest[r++]);
  }
  d.labels = labels;
  d.validate();
  return d;
}

datasets::Dataset noise_set(std::int64_t n, std::int64_t side, std::int64_t classes, std::uint64_t seed) {
  datasets::Dataset d;
  d.name = "noise";
  d.channels = 1;
  d.height = d.width = side;
  d.num_classes = classes;
  Generator gen(seed);
  for (float v : rand({n * side * side}, gen).to_vector<float>())
    d.images.push_back(static_cast<std::uint8_t>(v * 255.0f));
  for (std::int64_t i = 0; i < n; ++i) d.labels.push_back((i * 3 + 1) % classes);
  d.validate();
  return d;
}

nn::ModelPtr make(const std::string& name, std::int64_t side, std::int64_t classes, DType dtype = DType::F32) {
  nn::ModelConfig c;
  c.in_channels = 1;
  c.image_size = side;
  c.num_classes = classes;
  c.dtype = dtype;
  Generator gen(3);
  return nn::create_model(name, c, gen);
}

TEST(DistillEvaluate, HandMadeAccuracyConfusionAndLoss) {
  const std::vector<int> preds = {0, 1, 2, 3, 0, 1, 2, 0, 1, 1};
  const std::vector<std::int64_t> labels = {0, 1, 2, 2, 1, 1, 0, 0, 2, 1};  // no sample of class 3
  const datasets::Dataset d = pixel_set(preds, labels);
  PixelModel model(pixel_config());
  for (std::int64_t batch : {1, 3, 10, 500}) {
    SCOPED_TRACE(batch);
    const distill::EvalResult r = distill::evaluate(model, d, datasets::no_normalization(1), Device::cpu(), batch);
    EXPECT_EQ(r.samples, 10);
    EXPECT_EQ(r.correct, 6);
    EXPECT_DOUBLE_EQ(r.accuracy, 0.6);
    const std::vector<std::vector<std::int64_t>> confusion = {{2, 0, 1, 0}, {1, 3, 0, 0}, {0, 1, 1, 1}, {0, 0, 0, 0}};
    EXPECT_EQ(r.confusion, confusion);
    std::int64_t sum = 0, diagonal = 0;
    for (size_t t = 0; t < 4; ++t)
      for (size_t p = 0; p < 4; ++p) {
        sum += r.confusion[t][p];
        diagonal += t == p ? r.confusion[t][p] : 0;
      }
    EXPECT_EQ(sum, r.samples);
    EXPECT_EQ(diagonal, r.correct);
    ASSERT_EQ(r.per_class_accuracy.size(), 4u);
    EXPECT_DOUBLE_EQ(r.per_class_accuracy[0], 2.0 / 3.0);
    EXPECT_DOUBLE_EQ(r.per_class_accuracy[1], 3.0 / 4.0);
    EXPECT_DOUBLE_EQ(r.per_class_accuracy[2], 1.0 / 3.0);
    EXPECT_TRUE(std::isnan(r.per_class_accuracy[3]));
    // Mean cross-entropy of logits = pixels / 255.
    double loss = 0.0;
    for (size_t i = 0; i < labels.size(); ++i) {
      double z = 0.0;
      for (int p = 0; p < 4; ++p) z += std::exp(d.images[i * 4 + static_cast<size_t>(p)] / 255.0);
      loss += std::log(z) - d.images[i * 4 + static_cast<size_t>(labels[i])] / 255.0;
    }
    EXPECT_NEAR(r.loss, loss / 10.0, 1e-6);
    EXPECT_GE(r.seconds, 0.0);
  }
  EXPECT_EQ(distill::percent(0.6), "60.00%");
}

TEST(DistillEvaluate, MatchesManualLoopOverPredictLogits) {
  const datasets::Dataset d = noise_set(23, 8, 5, 1);
  const datasets::Normalization norm = datasets::compute_normalization(d);
  const auto model = make("cnn_small", 8, 5);
  model->train();
  const distill::EvalResult r = distill::evaluate(*model, d, norm, Device::cpu(), 7);  // 7 + 7 + 7 + 2
  EXPECT_TRUE(model->is_training()) << "train mode restored";
  const Tensor logits = distill::predict_logits(*model, d, norm, Device::cpu(), 4);
  EXPECT_TRUE(model->is_training());
  ASSERT_EQ(logits.shape(), (Shape{23, 5}));
  const std::vector<std::int64_t> pred = ops::argmax(logits, 1).to_vector<std::int64_t>();
  std::int64_t correct = 0;
  std::vector<std::vector<std::int64_t>> confusion(5, std::vector<std::int64_t>(5, 0));
  for (size_t i = 0; i < pred.size(); ++i) {
    correct += pred[i] == d.labels[i];
    ++confusion[static_cast<size_t>(d.labels[i])][static_cast<size_t>(pred[i])];
  }
  EXPECT_EQ(r.samples, 23);
  EXPECT_EQ(r.correct, correct);
  EXPECT_DOUBLE_EQ(r.accuracy, static_cast<double>(correct) / 23.0);
  EXPECT_EQ(r.confusion, confusion);
  for (size_t c = 0; c < 5; ++c) {
    std::int64_t total = 0;
    for (std::int64_t v : confusion[c]) total += v;
    EXPECT_DOUBLE_EQ(r.per_class_accuracy[c], static_cast<double>(confusion[c][c]) / static_cast<double>(total));
  }
  const double ce = ops::cross_entropy(logits, from_vector<std::int64_t>(d.labels)).item<double>();
  EXPECT_NEAR(r.loss, ce, 1e-5 * ce);
  // predict_logits is the eval-mode forward of the normalised images, in order, whatever the batch.
  EXPECT_TRUE(testing::all_close(distill::predict_logits(*model, d, norm, Device::cpu(), 500), logits,
                                 testing::tolerance_for(DType::F32, 10.0)));
  // Eval mode stays eval mode.
  model->eval();
  (void)distill::evaluate(*model, d, norm, Device::cpu());
  EXPECT_FALSE(model->is_training());
}

TEST(DistillEvaluate, DataThatDoesNotFitIsValueError) {
  const auto model = make("cnn_small", 8, 5);
  const datasets::Normalization norm = datasets::no_normalization(1);
  const auto eval = [&](const datasets::Dataset& d) {
    return [&, d] { (void)distill::evaluate(*model, d, norm, Device::cpu()); };
  };
  EXPECT_TRUE(throws_with<ValueError>(eval(noise_set(4, 16, 5, 1)), "has images 1x16x16 but the model"));
  EXPECT_TRUE(throws_with<ValueError>(eval(noise_set(4, 16, 5, 1)), "expects 1x8x8"));
  EXPECT_TRUE(throws_with<ValueError>(eval(noise_set(4, 8, 12, 1)), "has 12 classes but the model"));
  EXPECT_TRUE(throws_with<ValueError>(eval(noise_set(4, 8, 12, 1)), "predicts 5"));
  datasets::Dataset rgb = noise_set(4, 8, 5, 1);
  rgb.channels = 3;
  rgb.images.resize(rgb.images.size() * 3, 0);
  EXPECT_TRUE(throws_with<ValueError>(
      [&] { (void)distill::evaluate(*model, rgb, datasets::no_normalization(3), Device::cpu()); }, "has images 3x8x8"));
  datasets::Dataset empty = noise_set(4, 8, 5, 1);
  empty.images.clear();
  empty.labels.clear();
  EXPECT_TRUE(throws_with<ValueError>(eval(empty), "is empty"));
  EXPECT_TRUE(
      throws_with<ValueError>([&] { (void)distill::evaluate(*model, noise_set(4, 8, 5, 1), norm, Device::cpu(), 0); },
                              "evaluation batch size must be >= 1, found 0"));
  EXPECT_TRUE(throws_with<ValueError>(
      [&] { (void)distill::predict_logits(*model, noise_set(4, 16, 5, 1), norm, Device::cpu()); },
      "predict_logits: the data set"));
  // Fewer data classes than the model predicts is fine.
  EXPECT_NO_THROW(eval(noise_set(4, 8, 3, 1))());
}

TEST(DistillEvaluate, F64Model) {
  // ModelConfig allows f64 (and predict_logits converts non-f32 logits to f32), but the loader
  // always builds f32 batches.
  const auto model = make("cnn_small", 8, 5, DType::F64);
  const datasets::Dataset d = noise_set(6, 8, 5, 1);
  std::string what;
  try {
    (void)distill::evaluate(*model, d, datasets::no_normalization(1), Device::cpu());
  } catch (const std::exception& e) {
    what = e.what();
  }
  EXPECT_TRUE(what.empty()) << what;
  const Tensor logits = distill::predict_logits(*model, d, datasets::no_normalization(1), Device::cpu());
  EXPECT_EQ(logits.dtype(), DType::F32);
}

TEST(DistillEvaluate, LatencyNumbers) {
  const auto model = make("cnn_small", 8, 5);
  model->train();
  const distill::Latency l = distill::measure_latency(*model, 3, Device::cpu(), 0.01, 5);
  EXPECT_EQ(l.batch_size, 3);
  EXPECT_GE(l.runs, 3);
  EXPECT_LE(l.runs, 5);
  EXPECT_GT(l.ms_per_batch, 0.0);
  EXPECT_DOUBLE_EQ(l.ms_per_image, l.ms_per_batch / 3.0);
  EXPECT_TRUE(model->is_training());
  // max_runs bounds a long min_seconds; at least 3 runs for a tiny one.
  EXPECT_EQ(distill::measure_latency(*model, 1, Device::cpu(), 100.0, 4).runs, 4);
  EXPECT_EQ(distill::measure_latency(*model, 1, Device::cpu(), 0.0, 50).runs, 3);
  EXPECT_EQ(distill::measure_latency(*model, 1, Device::cpu(), 0.0, 1).runs, 1);
  EXPECT_TRUE(throws_with<ValueError>([&] { (void)distill::measure_latency(*model, 0, Device::cpu()); },
                                      "batch size and runs must be >= 1"));
  EXPECT_TRUE(throws_with<ValueError>([&] { (void)distill::measure_latency(*model, 2, Device::cpu(), 0.1, 0); },
                                      "batch size and runs must be >= 1"));
}

TEST(DistillEvaluate, PercentFormatting) {
  EXPECT_EQ(distill::percent(0.92314), "92.31%");
  EXPECT_EQ(distill::percent(0.5, 0), "50%");
  EXPECT_EQ(distill::percent(1.0, 1), "100.0%");
  EXPECT_EQ(distill::percent(0.0), "0.00%");
}

}  // namespace
}  // namespace kdcu
