// PyTorch -> kdcu weight interop: state_dicts written by PyTorch (tests/golden/make_models.py)
// load strictly into kdcu's models of the same name and give PyTorch's logits, in eval mode
// (running statistics) and in train mode (batch statistics, and the same running-stat update).
#include <gtest/gtest.h>

#include <string>

#include "core/autograd.h"
#include "core/safetensors.h"
#include "nn/model.h"
#include "tests/support/checks.h"

namespace kdcu {
namespace {

// 1e-4 (relative and absolute), not the plain f32 tolerance: the logits come out of up to 20
// conv/BN layers whose sums kdcu and PyTorch accumulate in different orders (im2col + GEMM vs
// PyTorch's own kernels), and each layer's f32 rounding differences are carried and amplified by
// the following ones. The worst seen is 1e-6 absolute, 1e-5 relative, so this leaves a 100x
// margin; a wrong layout, name, BN rule or layer order is off by 1e-2 or far more.
const testing::Tolerance kTol{1e-4, 1e-4};

struct Golden {
  SafetensorsFile file;
  nn::NamedTensors state;  // the "model." entries, prefix stripped, in file order
};

Golden load(const std::string& name) {
  Golden g{load_safetensors(std::string(KDCU_TEST_DATA_DIR) + "/golden/" + name + ".safetensors"), {}};
  const std::string prefix = "model.";
  for (const auto& [n, t] : g.file.tensors)
    if (n.compare(0, prefix.size(), prefix) == 0) g.state.emplace_back(n.substr(prefix.size()), t);
  return g;
}

void check_model(const std::string& name) {
  const Golden g = load(name);
  Generator gen(1);
  const nn::ModelPtr model = nn::create_model(name, {}, gen);  // 1 channel, 28x28, 10 classes
  // The file is PyTorch's state_dict in its own order: names, order, shapes and dtypes agree.
  const nn::NamedTensors mine = model->state_dict();
  ASSERT_EQ(mine.size(), g.state.size());
  for (size_t i = 0; i < mine.size(); ++i) {
    EXPECT_EQ(mine[i].first, g.state[i].first);
    EXPECT_EQ(mine[i].second.shape(), g.state[i].second.shape()) << mine[i].first;
    EXPECT_EQ(mine[i].second.dtype(), g.state[i].second.dtype()) << mine[i].first;
  }
  model->load_state_dict(g.state, /*strict=*/true);
  const Tensor& x = g.file.at("x");

  model->eval();
  {
    autograd::NoGradGuard no_grad;
    EXPECT_TRUE(testing::all_close((*model)(x), g.file.at("logits_eval"), kTol)) << name << " eval";
  }
  // Train mode with gradients on, as in training; BN updates its running statistics.
  model->train();
  EXPECT_TRUE(testing::all_close((*model)(x), g.file.at("logits_train"), kTol)) << name << " train";
  const std::string after = "after_train.";
  int compared = 0;
  for (const auto& [n, t] : g.file.tensors) {
    if (n.compare(0, after.size(), after) != 0) continue;
    const std::string state_name = n.substr(after.size());
    for (const auto& [mn, mt] : mine) {
      if (mn != state_name) continue;
      ++compared;
      EXPECT_TRUE(testing::all_close(mt, t, kTol)) << name << " " << state_name << " after a train-mode forward";
    }
  }
  EXPECT_EQ(static_cast<size_t>(compared), model->named_buffers().size()) << name;  // every BN buffer checked
}

TEST(NnInterop, ResNet20MatchesPyTorch) {
  check_model("resnet20");
}

TEST(NnInterop, CnnSmallMatchesPyTorch) {
  check_model("cnn_small");
}

}  // namespace
}  // namespace kdcu
