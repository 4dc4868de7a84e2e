// The `kdcu` command line as a user meets it: bad input ends in one "error: ..." line naming what
// was expected and found, with a non-zero exit and no crash; a NaN loss stops the run and keeps
// the last good files; config files, --json, resume and summary work as documented. Uses a small
// MNIST-format data set written by the test (learnable: each class is a bright square somewhere).
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/cuda_runtime.h"
#include "datasets/idx.h"
#include "tests/slow/cli_runner.h"

namespace kdcu {
namespace testing {
namespace {

// 600 train / 200 test 28x28 images in MNIST's file layout under a fresh directory.
const std::string& tiny_mnist() {
  static const std::string dir = [] {
    const std::string d = fresh_dir("tiny_mnist");
    for (const auto& [prefix, n] : {std::pair<std::string, std::int64_t>{"train", 600}, {"t10k", 200}}) {
      std::vector<std::uint8_t> images(static_cast<size_t>(n) * 784, 0), labels(static_cast<size_t>(n));
      for (std::int64_t i = 0; i < n; ++i) {
        const int c = static_cast<int>((i * 7 + 3) % 10);
        labels[static_cast<size_t>(i)] = static_cast<std::uint8_t>(c);
        const int y0 = 2 + (c / 5) * 12, x0 = 2 + (c % 5) * 5;
        for (int y = y0; y < y0 + 8; ++y)
          for (int x = x0; x < x0 + 4; ++x)
            images[static_cast<size_t>(i * 784 + y * 28 + x)] = static_cast<std::uint8_t>(200 + (i * 13) % 56);
      }
      datasets::write_idx(d + "/" + prefix + "-images-idx3-ubyte", {n, 28, 28}, images.data(), false);
      datasets::write_idx(d + "/" + prefix + "-labels-idx1-ubyte", {n}, labels.data(), false);
    }
    return d;
  }();
  return dir;
}

std::string tiny_data() {
  return "--dataset mnist --data '" + tiny_mnist() + "'";
}

void expect_error(const CliRun& r, const std::string& needle) {
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "expected '" << needle << "' in: " << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(Cli, TrainEvalAndSummaryWithJson) {
  const std::string out = fresh_dir("train");
  const CliRun t =
      run_kdcu("train --model cnn_small --epochs 2 --lr 0.05 " + tiny_data() + " --json --out '" + out + "'");
  ASSERT_EQ(t.status, 0) << t.err;
  const nlohmann::json tj = nlohmann::json::parse(t.out);
  EXPECT_EQ(tj.at("command"), "train");
  EXPECT_GT(tj.at("test_accuracy").get<double>(), 0.5);
  EXPECT_EQ(tj.at("epochs"), 2);
  EXPECT_NE(t.err.find("[train] epoch 2:"), std::string::npos) << t.err;
  // The resolved config and run record sit beside the outputs.
  const nlohmann::json run = nlohmann::json::parse(read_text(out + "/run.json"));
  EXPECT_EQ(run.at("seed"), 0);
  EXPECT_EQ(run.at("device"), "cpu");
  EXPECT_FALSE(run.at("commit").get<std::string>().empty());
  EXPECT_NE(read_text(out + "/config.toml").find("epochs=2"), std::string::npos) << read_text(out + "/config.toml");

  const CliRun e = run_kdcu("eval --weights '" + out + "/last.safetensors' " + tiny_data() + " --json");
  ASSERT_EQ(e.status, 0) << e.err;
  const nlohmann::json ej = nlohmann::json::parse(e.out);
  EXPECT_DOUBLE_EQ(ej.at("test_accuracy").get<double>(), tj.at("test_accuracy").get<double>());
  EXPECT_GT(ej.at("latency_ms_batch1").get<double>(), 0.0);
  std::int64_t total = 0;
  for (const auto& row : ej.at("confusion"))
    for (const auto& v : row) total += v.get<std::int64_t>();
  EXPECT_EQ(total, 200);

  const CliRun s = run_kdcu("summary resnet20 --json");
  ASSERT_EQ(s.status, 0) << s.err;
  EXPECT_EQ(nlohmann::json::parse(s.out).at("params"), 272186);
  EXPECT_NE(s.err.find("layer3"), std::string::npos);
}

TEST(Cli, ConfigFileResumeAndDistill) {
  const std::string out = fresh_dir("config");
  {
    std::ofstream cfg(out + "/run.toml");
    cfg << "model = \"mlp_student\"\nepochs = 2\nlr = 0.02\n";
  }
  const CliRun t = run_kdcu("train --config '" + out + "/run.toml' " + tiny_data() + " --json --out '" + out + "/t'");
  ASSERT_EQ(t.status, 0) << t.err;
  const nlohmann::json tj = nlohmann::json::parse(t.out);
  EXPECT_EQ(tj.at("model"), "mlp_student");
  EXPECT_EQ(tj.at("epochs"), 2);
  // Resuming a finished run trains nothing more and reports the same result.
  const CliRun again =
      run_kdcu("train --config '" + out + "/run.toml' " + tiny_data() + " --resume --json --out '" + out + "/t'");
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_NE(again.err.find("resumed from"), std::string::npos) << again.err;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(again.out).at("test_accuracy").get<double>(),
                   tj.at("test_accuracy").get<double>());
  // The run's own resolved config.toml repeats it (the command line's --out wins over the file's).
  const CliRun repeat = run_kdcu("train --config '" + out + "/t/config.toml' --json --out '" + out + "/t2'");
  ASSERT_EQ(repeat.status, 0) << repeat.err;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(repeat.out).at("test_accuracy").get<double>(),
                   tj.at("test_accuracy").get<double>());
  {
    std::ofstream bad(out + "/bad.toml");
    bad << "epochs = 2\nepohcs = 3\n";
  }
  expect_error(run_kdcu("train --config '" + out + "/bad.toml' " + tiny_data()),
               "bad.toml:2: 'epohcs' is not an option");
  // Born-again distillation from that checkpoint, model name read from the file.
  const CliRun d = run_kdcu("distill --student mlp_student --teacher '" + out + "/t/last.safetensors' --epochs 1 " +
                            tiny_data() + " --json --out '" + out + "/d'");
  ASSERT_EQ(d.status, 0) << d.err;
  const nlohmann::json dj = nlohmann::json::parse(d.out);
  EXPECT_TRUE(dj.at("used_soft_label_cache").get<bool>());
  EXPECT_NE(dj.at("loss").get<std::string>().find("kd(T=4)"), std::string::npos);
}

TEST(Cli, BadInputIsOneClearError) {
  expect_error(run_kdcu("eval --weights /nonexistent/w.safetensors " + tiny_data()), "/nonexistent/w.safetensors");
  expect_error(run_kdcu("train --dataset mnist --data /nonexistent/dir --epochs 1"), "/nonexistent/dir");
  expect_error(run_kdcu("pipeline --preset nope"), "unknown --preset 'nope'");
  expect_error(run_kdcu("train --model resnet7 " + tiny_data()), "resnet7");
  const std::string dir = fresh_dir("bad");
  {
    std::ofstream f(dir + "/truncated.safetensors", std::ios::binary);
    f << "\x40\x00\x00\x00\x00\x00\x00\x00{\"a\":";
  }
  expect_error(run_kdcu("distill --teacher '" + dir + "/truncated.safetensors' " + tiny_data()),
               "truncated.safetensors");
  expect_error(run_kdcu("distill --teacher x.safetensors --alpha 0.5 --kd-weight 1 " + tiny_data()),
               "either --alpha or --kd-weight");
  if (!cuda::available()) {
    expect_error(run_kdcu("train --device cuda --epochs 1 " + tiny_data()), "CUDA unavailable");
  }
}

TEST(Cli, NanLossStopsAndKeepsTheLastGoodEpoch) {
  const std::string out = fresh_dir("nan");
  // A constant LR of 1e4 diverges within a few epochs; whatever epoch it happens in, the error
  // names it, and every file written before it still loads.
  const CliRun r = run_kdcu("train --model mlp_student --schedule constant --lr 1e4 --momentum 0.9 --epochs 20 " +
                            tiny_data() + " --out '" + out + "'");
  expect_error(r, "training stopped: the loss is");
  EXPECT_NE(r.err.find("at epoch"), std::string::npos);
  EXPECT_NE(r.err.find("step"), std::string::npos);
  if (std::filesystem::exists(out + "/last.safetensors")) {
    const CliRun e = run_kdcu("eval --weights '" + out + "/last.safetensors' --no-latency " + tiny_data());
    EXPECT_EQ(e.status, 0) << e.err;
  }
}

}  // namespace
}  // namespace testing
}  // namespace kdcu
