// End-to-end training on the CPU: cnn_small learns a small synthetic classification task (each
// class a fixed random image, every example that image plus noise) with each optimizer (SGD with
// momentum, SGD nesterov, Adam, AdamW): the loss falls well below its start, the training accuracy
// ends far above chance, and so does the accuracy on held-out examples. 16x16 images (cnn_small's
// smallest sensible size is 4) keep the four runs at about 0.5 s each on one core; the margins
// (loss ratio <= 0.13, training accuracy >= 0.94, held-out >= 0.82) held over several init seeds.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/factories.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "ops/loss.h"
#include "ops/reduce.h"

namespace kdcu {
namespace {

using MakeOptimizer = std::function<std::unique_ptr<nn::Optimizer>(const nn::NamedTensors&)>;

constexpr std::int64_t kImage = 16, kClasses = 10, kExamples = 256, kBatch = 32, kEpochs = 10;
constexpr double kNoise = 1.5;  // per pixel the noise is 1.5 times the patterns' scale
constexpr int kWindow = 4;      // steps averaged at the start and at the end

struct Task {
  Tensor x;  // [kExamples, 1, kImage, kImage]
  std::vector<float> pixels;
  std::vector<std::int64_t> labels;
};

// Example i has class i % kClasses: that class's pattern (a fixed N(0, 1) image) plus N(0, kNoise),
// the noise drawn from `gen` (the patterns always from one fixed seed, so that a second call makes
// held-out examples of the same classes).
Task make_task(Generator& gen) {
  Generator pattern_gen(2024);
  const std::int64_t per = kImage * kImage;
  const std::vector<float> patterns = randn({kClasses, per}, pattern_gen).to_vector<float>();
  const std::vector<float> noise =
      randn({kExamples, per}, gen, DType::F32, Device::cpu(), 0.0, kNoise).to_vector<float>();
  Task t;
  t.pixels.resize(static_cast<size_t>(kExamples * per));
  for (std::int64_t i = 0; i < kExamples; ++i) {
    const std::int64_t c = i % kClasses;
    t.labels.push_back(c);
    for (std::int64_t j = 0; j < per; ++j) t.pixels[i * per + j] = patterns[c * per + j] + noise[i * per + j];
  }
  t.x = from_vector<float>(t.pixels, {kExamples, 1, kImage, kImage});
  return t;
}

std::pair<Tensor, Tensor> batch(const Task& t, const std::vector<std::int64_t>& order, std::int64_t begin) {
  const std::int64_t per = kImage * kImage;
  std::vector<float> x;
  std::vector<std::int64_t> y;
  for (std::int64_t i = begin; i < begin + kBatch; ++i) {
    const std::int64_t j = order[static_cast<size_t>(i)];
    x.insert(x.end(), t.pixels.begin() + j * per, t.pixels.begin() + (j + 1) * per);
    y.push_back(t.labels[static_cast<size_t>(j)]);
  }
  return {from_vector<float>(x, {kBatch, 1, kImage, kImage}), from_vector<std::int64_t>(y)};
}

double mean(const std::vector<double>& v, size_t begin, size_t end) {
  return std::accumulate(v.begin() + begin, v.begin() + end, 0.0) / static_cast<double>(end - begin);
}

// The fraction of the task's examples the model (in eval mode) classifies correctly.
double accuracy(nn::Model& model, const Task& t) {
  autograd::NoGradGuard no_grad;
  model.eval();
  const std::vector<std::int64_t> predicted = ops::argmax(model(t.x), 1).to_vector<std::int64_t>();
  model.train();
  std::int64_t right = 0;
  for (size_t i = 0; i < predicted.size(); ++i) right += predicted[i] == t.labels[i];
  return static_cast<double>(right) / static_cast<double>(predicted.size());
}

void check_learns(const std::string& name, const MakeOptimizer& make) {
  SCOPED_TRACE(name);
  const auto t0 = std::chrono::steady_clock::now();
  Generator noise(11);
  const Task task = make_task(noise), held_out = make_task(noise);
  nn::ModelConfig cfg;
  cfg.in_channels = 1;
  cfg.image_size = kImage;
  cfg.num_classes = kClasses;
  Generator gen(7);
  const nn::ModelPtr model = nn::create_model("cnn_small", cfg, gen);
  const auto opt = make(model->named_parameters());
  const double chance = 1.0 / kClasses;
  const double before = accuracy(*model, task);

  std::vector<double> losses;
  for (std::int64_t epoch = 0; epoch < kEpochs; ++epoch) {
    std::vector<std::int64_t> order(kExamples);
    std::iota(order.begin(), order.end(), 0);
    // A fixed order that changes from epoch to epoch (a rotation), so batches differ across epochs.
    std::rotate(order.begin(), order.begin() + (epoch * 37) % kExamples, order.end());
    for (std::int64_t b = 0; b < kExamples / kBatch; ++b) {
      opt->zero_grad();
      const auto [x, y] = batch(task, order, b * kBatch);
      const Tensor loss = ops::cross_entropy((*model)(x), y);
      loss.backward();
      opt->step();
      losses.push_back(loss.item<double>());
    }
  }
  const double first = mean(losses, 0, kWindow), last = mean(losses, losses.size() - kWindow, losses.size());
  const double after = accuracy(*model, task), generalises = accuracy(*model, held_out);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Near ln(kClasses) at the start; a learnt task ends far below.
  EXPECT_GT(first, 0.5 * std::log(static_cast<double>(kClasses)));
  EXPECT_LT(last, 0.25 * first) << "mean loss of the first " << kWindow << " steps " << first << ", of the last "
                                << last;
  EXPECT_GE(after, 0.9) << "training accuracy before " << before << ", after " << after << " (chance " << chance << ")";
  // Learnt the classes, not the examples: new noise on the same patterns is classified too.
  EXPECT_GE(generalises, 0.7) << "held-out accuracy " << generalises << " (chance " << chance << ")";
  for (double l : losses) EXPECT_TRUE(std::isfinite(l));
  std::printf("[ %-13s ] loss %.3f -> %.3f, training accuracy %.3f -> %.3f, held-out %.3f, %.2f s\n", name.c_str(),
              first, last, before, after, generalises, seconds);
}

TEST(NnTraining, CnnSmallLearnsWithSgdMomentum) {
  check_learns("SGD momentum",
               [](const nn::NamedTensors& ps) { return std::make_unique<nn::SGD>(ps, 0.01, 0.9, 0.0, 0.0, false); });
}

TEST(NnTraining, CnnSmallLearnsWithSgdNesterov) {
  check_learns("SGD nesterov",
               [](const nn::NamedTensors& ps) { return std::make_unique<nn::SGD>(ps, 0.01, 0.9, 0.0, 1e-4, true); });
}

TEST(NnTraining, CnnSmallLearnsWithAdam) {
  check_learns("Adam", [](const nn::NamedTensors& ps) { return std::make_unique<nn::Adam>(ps, 2e-3); });
}

TEST(NnTraining, CnnSmallLearnsWithAdamW) {
  check_learns("AdamW", [](const nn::NamedTensors& ps) {
    return std::make_unique<nn::AdamW>(ps, 2e-3, std::make_pair(0.9, 0.999), 1e-8, 1e-2);
  });
}

}  // namespace
}  // namespace kdcu
