// `--data-residency auto|host|device` on the command line: on the CPU, `device` keeps the training
// set resident and trains to the same bytes of last.safetensors as the host loader; the choice is
// written to config.toml; a bad value, or `device` with augmentation, is one clear error.
#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "datasets/idx.h"
#include "tests/slow/cli_runner.h"

namespace kdcu {
namespace testing {
namespace {

// 300 train / 100 test 28x28 images in MNIST's layout: class c is a bright bar at column 2 + 2c.
const std::string& bars() {
  static const std::string dir = [] {
    const std::string d = fresh_dir("residency_bars");
    for (const auto& [prefix, n] : {std::pair<std::string, std::int64_t>{"train", 300}, {"t10k", 100}}) {
      std::vector<std::uint8_t> images(static_cast<size_t>(n) * 784, 0), labels(static_cast<size_t>(n));
      for (std::int64_t i = 0; i < n; ++i) {
        const int c = static_cast<int>((i * 3 + 1) % 10);
        labels[static_cast<size_t>(i)] = static_cast<std::uint8_t>(c);
        for (int y = 4; y < 24; ++y)
          images[static_cast<size_t>(i * 784 + y * 28 + 2 + 2 * c)] = static_cast<std::uint8_t>(180 + (i * 7) % 70);
      }
      datasets::write_idx(d + "/" + prefix + "-images-idx3-ubyte", {n, 28, 28}, images.data(), false);
      datasets::write_idx(d + "/" + prefix + "-labels-idx1-ubyte", {n}, labels.data(), false);
    }
    return d;
  }();
  return dir;
}

std::string train_args(const std::string& out) {
  return "train --model mlp_student --epochs 2 --batch-size 64 --lr 0.05 --dataset mnist --data '" + bars() +
         "' --json --out '" + out + "'";
}

TEST(CliResidency, DeviceOnTheCpuTrainsLikeTheHostLoader) {
  const std::string out = fresh_dir("residency");
  const CliRun host = run_kdcu(train_args(out + "/host") + " --data-residency host");
  ASSERT_EQ(host.status, 0) << host.err;
  EXPECT_NE(host.err.find("training data: host loader"), std::string::npos) << host.err;
  const CliRun dev = run_kdcu(train_args(out + "/dev") + " --data-residency device");
  ASSERT_EQ(dev.status, 0) << dev.err;
  EXPECT_NE(dev.err.find("training data: resident on cpu"), std::string::npos) << dev.err;
  EXPECT_EQ(nlohmann::json::parse(dev.out).at("test_accuracy"), nlohmann::json::parse(host.out).at("test_accuracy"));
  const std::string a = read_text(out + "/host/last.safetensors"), b = read_text(out + "/dev/last.safetensors");
  EXPECT_FALSE(a.empty());
  EXPECT_TRUE(a == b) << "the weights differ between the host loader and the resident data";
  const std::string toml = read_text(out + "/dev/config.toml");
  EXPECT_NE(toml.find("data-residency=\"device\""), std::string::npos) << toml;
  // The run's config.toml repeats it, residency included.
  const CliRun again = run_kdcu("train --config '" + out + "/dev/config.toml' --json --out '" + out + "/again'");
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_NE(again.err.find("training data: resident on cpu"), std::string::npos) << again.err;
  EXPECT_TRUE(read_text(out + "/again/last.safetensors") == b);
}

TEST(CliResidency, BadChoicesAreOneClearError) {
  const std::string out = fresh_dir("residency_bad");
  const CliRun bad = run_kdcu(train_args(out + "/a") + " --data-residency gpu");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("--data-residency"), std::string::npos) << bad.err;
  const CliRun aug = run_kdcu(train_args(out + "/b") + " --data-residency device --flip");
  EXPECT_EQ(aug.status, 1) << aug.err;
  EXPECT_NE(aug.err.find("error: "), std::string::npos) << aug.err;
  EXPECT_NE(aug.err.find("data residency 'device' is not possible: random augmentation"), std::string::npos) << aug.err;
}

}  // namespace
}  // namespace testing
}  // namespace kdcu
