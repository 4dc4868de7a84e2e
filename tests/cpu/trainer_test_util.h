// Shared pieces of the trainer tests (test_distill_trainer*.cpp): a temporary directory, the
// synthetic quadrant task, small models and configs, history comparisons, a metrics CSV reader and
// an observer that records what fit reports.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/factories.h"
#include "datasets/dataset.h"
#include "datasets/loader.h"
#include "datasets/transforms.h"
#include "distill/distill_loss.h"
#include "distill/evaluate.h"
#include "distill/history.h"
#include "distill/soft_label_cache.h"
#include "distill/trainer.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "ops/elementwise.h"
#include "tests/support/temp_dir.h"
#include "tests/support/checks.h"
#include "tests/support/synthetic.h"

namespace kdcu {
namespace trainer_test {
using testing::bytes_of;
using testing::differing;

namespace fs = std::filesystem;
using distill::DistillLoss;
using distill::EpochRecord;
using distill::LossConfig;
using distill::TrainConfig;
using distill::TrainResult;
using testing::throws_with;

constexpr std::int64_t kSide = 8, kClasses = 4;

struct TempDir : testing::TempDir {
  TempDir() : testing::TempDir("trainer") {}
};

inline datasets::Dataset make_set(std::int64_t n, std::uint64_t seed, const std::string& name) {
  return testing::quadrant_set(n, seed, name, kSide);
}

struct Fixture {
  datasets::Dataset train = make_set(64, 1, "synthetic/train");
  datasets::Dataset eval = make_set(32, 2, "synthetic/eval");
  datasets::Normalization norm = datasets::compute_normalization(train);
};

inline const Fixture& data() {
  static const Fixture f;
  return f;
}

inline nn::ModelPtr make(const std::string& name, std::uint64_t seed) {
  nn::ModelConfig c;
  c.in_channels = 1;
  c.image_size = kSide;
  c.num_classes = kClasses;
  Generator gen(seed);
  return nn::create_model(name, c, gen);
}

inline LossConfig plain_loss() {
  LossConfig c;
  c.kd_weight = 0.0;
  c.ce_weight = 1.0;
  return c;
}

inline TrainConfig small_config(std::int64_t epochs) {
  TrainConfig c;
  c.epochs = epochs;
  c.batch_size = 16;
  c.eval_batch_size = 20;  // not a divisor of 32: a partial last batch
  c.optim.optimizer = "sgd";
  c.optim.lr = 0.05;
  c.optim.momentum = 0.9;
  c.optim.weight_decay = 1e-4;
  c.optim.schedule = "cosine";
  c.optim.warmup_epochs = 1;
  c.seed = 17;
  c.prefetch = 2;
  return c;
}

inline double max_abs_diff(const nn::NamedTensors& a, const nn::NamedTensors& b) {
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const std::vector<double> x = a[i].second.to_vector<double>(), y = b[i].second.to_vector<double>();
    for (size_t j = 0; j < x.size(); ++j) m = std::max(m, std::abs(x[j] - y[j]));
  }
  return m;
}

inline double term_of(const EpochRecord& r, const std::string& name) {
  for (const auto& [n, v] : r.train_terms)
    if (n == name) return v;
  return std::numeric_limits<double>::quiet_NaN();
}

// The logged values (not the timings) are equal; terms compared by name.
inline void expect_same_history(const std::vector<EpochRecord>& a, const std::vector<EpochRecord>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE("epoch " + std::to_string(i + 1));
    EXPECT_EQ(a[i].epoch, b[i].epoch);
    EXPECT_EQ(a[i].lr, b[i].lr);
    EXPECT_EQ(a[i].temperature, b[i].temperature);
    EXPECT_EQ(a[i].kd_weight, b[i].kd_weight);
    EXPECT_EQ(a[i].train_loss, b[i].train_loss);
    EXPECT_EQ(a[i].train_accuracy, b[i].train_accuracy);
    EXPECT_EQ(a[i].eval_loss, b[i].eval_loss);
    EXPECT_EQ(a[i].eval_accuracy, b[i].eval_accuracy);
    ASSERT_EQ(a[i].train_terms.size(), b[i].train_terms.size());
    for (const auto& [n, v] : a[i].train_terms) EXPECT_EQ(term_of(b[i], n), v) << n;
  }
}

// Like expect_same_history, to a relative tolerance (for runs that differ by float rounding).
inline void expect_close_history(const std::vector<EpochRecord>& a, const std::vector<EpochRecord>& b, double rtol) {
  ASSERT_EQ(a.size(), b.size());
  const auto near = [rtol](double x, double y) { return std::abs(x - y) <= rtol * std::max(std::abs(y), 1e-6); };
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE("epoch " + std::to_string(i + 1));
    EXPECT_EQ(a[i].epoch, b[i].epoch);
    EXPECT_EQ(a[i].lr, b[i].lr);
    EXPECT_TRUE(near(a[i].train_loss, b[i].train_loss)) << a[i].train_loss << " vs " << b[i].train_loss;
    EXPECT_TRUE(near(a[i].eval_loss, b[i].eval_loss)) << a[i].eval_loss << " vs " << b[i].eval_loss;
    EXPECT_EQ(a[i].eval_accuracy, b[i].eval_accuracy);
    for (const auto& [n, v] : a[i].train_terms) EXPECT_TRUE(near(term_of(b[i], n), v)) << n;
  }
}

// metrics.csv as rows of column name -> text, without the timing columns.
inline std::vector<std::map<std::string, std::string>> read_csv(const std::string& path) {
  const auto split = [](const std::string& line) {
    std::vector<std::string> out;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) out.push_back(cell);
    return out;
  };
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> header = split(line);
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    const std::vector<std::string> cells = split(line);
    EXPECT_EQ(cells.size(), header.size()) << line;
    std::map<std::string, std::string> row;
    for (size_t i = 0; i < header.size() && i < cells.size(); ++i)
      if (header[i] != "train_seconds" && header[i] != "eval_seconds" && header[i] != "images_per_second")
        row[header[i]] = cells[i];
    rows.push_back(row);
  }
  return rows;
}

inline size_t count_lines(const std::string& path) {
  std::ifstream in(path);
  size_t n = 0;
  std::string line;
  while (std::getline(in, line)) n += !line.empty();
  return n;
}

struct Recorder : distill::TrainObserver {
  std::vector<std::string> messages;
  std::vector<distill::StepProgress> steps;
  std::vector<EpochRecord> epochs;
  std::function<void(const EpochRecord&)> after_epoch;
  void on_message(const std::string& line) override { messages.push_back(line); }
  void on_step(const distill::StepProgress& p) override { steps.push_back(p); }
  void on_epoch(const EpochRecord& r) override {
    epochs.push_back(r);
    if (after_epoch) after_epoch(r);
  }
  bool said(const std::string& needle) const {
    for (const std::string& m : messages)
      if (m.find(needle) != std::string::npos) return true;
    return false;
  }
};

struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted by the test") {}
};


}  // namespace trainer_test
}  // namespace kdcu
