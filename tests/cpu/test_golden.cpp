// kdcu's ops against files written by PyTorch 1.13 (tests/golden, made by make_golden.py): the
// forward output and every gradient of sum(out * w) must match at f32 tolerance. Each case's
// parameters come from the file's metadata, so a case added to the script is tested here too.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "core/safetensors.h"
#include "ops/batch_norm.h"
#include "ops/conv.h"
#include "ops/linear.h"
#include "ops/loss.h"
#include "ops/pool.h"
#include "ops/softmax.h"
#include "tests/support/checks.h"

namespace kdcu {
namespace {

using nlohmann::json;

// The plain f32 tolerance: kdcu's CPU kernels accumulate in f64, so they sit within it of PyTorch.
const testing::Tolerance kTol = testing::tolerance_for(DType::F32);

class GoldenCase {
 public:
  GoldenCase(const SafetensorsFile& file, std::string name)
      : file_(file), name_(std::move(name)), params_(json::parse(file.metadata.at("case." + name_))) {}

  const json& params() const { return params_; }
  const std::string& name() const { return name_; }
  bool has(const std::string& role) const { return file_.contains(name_ + "." + role); }
  // A fresh copy, so in-place updates (batch-norm running stats) never touch the loaded file.
  Tensor get(const std::string& role) const { return file_.at(name_ + "." + role).clone(); }
  Tensor input(const std::string& role) const {
    Tensor t = get(role);
    if (has("d" + role)) t.requires_grad_();
    return t;
  }
  // Runs backward with the stored weights and compares `out` and every stored gradient.
  void check(const Tensor& out, const std::vector<std::pair<std::string, Tensor>>& inputs) const {
    EXPECT_TRUE(testing::all_close(out, get("out"), kTol)) << name_ << ".out";
    out.backward(get("w"));
    for (const auto& [role, t] : inputs) {
      if (!has("d" + role)) continue;
      ++checked_grads;
      EXPECT_TRUE(testing::all_close(t.grad(), get("d" + role), kTol)) << name_ << ".d" << role;
    }
  }
  mutable int checked_grads = 0;

 private:
  const SafetensorsFile& file_;
  std::string name_;
  json params_;
};

std::vector<std::string> case_names(const SafetensorsFile& f) {
  std::vector<std::string> names;
  for (const auto& [key, value] : f.metadata)
    if (key.rfind("case.", 0) == 0) names.push_back(key.substr(5));
  return names;
}

SafetensorsFile load_golden(const std::string& name) {
  return load_safetensors(std::string(KDCU_TEST_DATA_DIR) + "/golden/" + name + ".safetensors");
}

ops::Pair pair(const json& v) {
  return {v.get<std::int64_t>(), v.get<std::int64_t>()};
}

// Runs every case of one file through `run` and checks that cases and gradients were found.
template <class Run>
void for_each_case(const std::string& file, int min_cases, Run&& run) {
  const SafetensorsFile f = load_golden(file);
  int cases = 0, grads = 0;
  for (const std::string& name : case_names(f)) {
    GoldenCase c(f, name);
    run(c);
    ++cases;
    grads += c.checked_grads;
  }
  EXPECT_GE(cases, min_cases) << file;
  EXPECT_GE(grads, cases) << file << ": every case must compare at least one gradient";
}

TEST(Golden, SoftmaxAndLogSoftmaxWithTemperature) {
  for_each_case("softmax_t", 8, [](const GoldenCase& c) {
    const Tensor x = c.input("x");
    const double T = c.params()["T"];
    const std::int64_t dim = c.params()["dim"];
    const Tensor out = c.params()["op"] == "softmax" ? ops::softmax(x, dim, T) : ops::log_softmax(x, dim, T);
    c.check(out, {{"x", x}});
  });
}

TEST(Golden, KdKlDivBatchmean) {
  for_each_case("kd_kl_div", 5, [](const GoldenCase& c) {
    ASSERT_EQ(c.params()["reduction"], "batchmean");
    const Tensor s = c.input("s"), t = c.input("t");
    c.check(ops::kd_kl_div(s, t, c.params()["T"].get<double>()), {{"s", s}, {"t", t}});
  });
}

TEST(Golden, CrossEntropy) {
  for_each_case("cross_entropy", 4, [](const GoldenCase& c) {
    const Tensor logits = c.input("logits");
    const Tensor out = ops::cross_entropy(logits, c.get("labels"), c.params()["label_smoothing"].get<double>(),
                                          ops::parse_reduction(c.params()["reduction"].get<std::string>()));
    c.check(out, {{"logits", logits}});
  });
}

TEST(Golden, Conv2d) {
  for_each_case("conv2d", 4, [](const GoldenCase& c) {
    const Tensor x = c.input("x"), w = c.input("weight");
    const Tensor b = c.params()["bias"].get<bool>() ? c.input("bias") : Tensor();
    const json& p = c.params();
    const Tensor out = ops::conv2d(x, w, b, pair(p["stride"]), pair(p["padding"]), pair(p["dilation"]));
    c.check(out, {{"x", x}, {"weight", w}, {"bias", b}});
  });
}

TEST(Golden, BatchNormTrainAndEval) {
  for_each_case("batch_norm", 4, [](const GoldenCase& c) {
    const Tensor x = c.input("x"), w = c.input("weight"), b = c.input("bias");
    const Tensor rm = c.get("running_mean"), rv = c.get("running_var");
    const bool training = c.params()["training"];
    const Tensor out = ops::batch_norm(x, w, b, rm, rv, training, c.params()["momentum"].get<double>(),
                                       c.params()["eps"].get<double>());
    if (training) {
      EXPECT_TRUE(testing::all_close(rm, c.get("running_mean_updated"), kTol)) << c.name();
      EXPECT_TRUE(testing::all_close(rv, c.get("running_var_updated"), kTol)) << c.name();
    } else {
      EXPECT_TRUE(testing::all_close(rm, c.get("running_mean"))) << c.name() << ": eval must not update";
    }
    c.check(out, {{"x", x}, {"weight", w}, {"bias", b}});
  });
}

TEST(Golden, MaxPool2d) {
  for_each_case("max_pool2d", 2, [](const GoldenCase& c) {
    const Tensor x = c.input("x");
    const json& p = c.params();
    c.check(ops::max_pool2d(x, pair(p["kernel"]), pair(p["stride"]), pair(p["padding"])), {{"x", x}});
  });
}

TEST(Golden, Linear) {
  for_each_case("linear", 2, [](const GoldenCase& c) {
    const Tensor x = c.input("x"), w = c.input("weight");
    const Tensor b = c.params()["bias"].get<bool>() ? c.input("bias") : Tensor();
    c.check(ops::linear(x, w, b), {{"x", x}, {"weight", w}, {"bias", b}});
  });
}

}  // namespace
}  // namespace kdcu
