// Module: PyTorch's state_dict names and order, strict and lenient loading, modes, moving.
#include <gtest/gtest.h>

#include "core/factories.h"
#include "nn/module.h"
#include "nn/summary_hook.h"
#include "ops/elementwise.h"
#include "tests/support/checks.h"

namespace kdcu {
namespace {

using testing::throws_with;

// y = x * scale + shift, with a buffer and a child, named like a PyTorch module would be.
class Affine : public nn::Module {
 public:
  Affine() : nn::Module("Affine") {
    scale = register_parameter("weight", ones({3}));
    shift = register_parameter("bias", zeros({3}));
    register_buffer("calls", zeros({}, DType::I64));
  }
  Tensor forward(const Tensor& x) override { return x * scale + shift; }
  Tensor scale, shift;
};

class Net : public nn::Module {
 public:
  Net() : nn::Module("Net") {
    first = register_module("first", std::make_shared<Affine>());
    register_parameter("gain", full({1}, 2.0));
    second = register_module("second", std::make_shared<Affine>());
  }
  Tensor forward(const Tensor& x) override { return (*second)((*first)(x)); }
  std::shared_ptr<Affine> first, second;
};

std::vector<std::string> names(const nn::NamedTensors& ts) {
  std::vector<std::string> out;
  for (const auto& [n, t] : ts) out.push_back(n);
  return out;
}

TEST(Module, StateDictNamesAndOrderFollowPyTorch) {
  Net net;
  // Own parameters, then own buffers, then children in registration order.
  EXPECT_EQ(names(net.state_dict()), (std::vector<std::string>{"gain", "first.weight", "first.bias", "first.calls",
                                                               "second.weight", "second.bias", "second.calls"}));
  EXPECT_EQ(names(net.named_parameters()),
            (std::vector<std::string>{"gain", "first.weight", "first.bias", "second.weight", "second.bias"}));
  EXPECT_EQ(names(net.named_buffers()), (std::vector<std::string>{"first.calls", "second.calls"}));
  EXPECT_EQ(net.num_parameters(), 13);
  std::vector<std::string> modules;
  for (const auto& [n, m] : net.named_modules()) modules.push_back(n + ":" + m->type_name());
  EXPECT_EQ(modules, (std::vector<std::string>{":Net", "first:Affine", "second:Affine"}));
  for (const Tensor& p : net.parameters()) EXPECT_TRUE(p.requires_grad());
}

TEST(Module, LoadCopiesValuesIntoTheSameTensors) {
  Net a, b;
  fill_(a.first->scale, 3.0);
  const Tensor handle = b.first->scale;
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(handle.to_vector<float>(), (std::vector<float>{3, 3, 3}));  // an optimizer's handle sees the load
  EXPECT_NE(handle.raw_data(), a.first->scale.raw_data());
  // f64 values are converted to the module's f32.
  nn::NamedTensors state = a.state_dict();
  state[1].second = full({3}, 0.5, DType::F64);
  b.load_state_dict(state);
  EXPECT_EQ(b.first->scale.to_vector<float>(), (std::vector<float>{0.5f, 0.5f, 0.5f}));
}

TEST(Module, StrictLoadListsMissingUnexpectedAndWrongShapes) {
  Net net;
  nn::NamedTensors state = net.state_dict();
  state.erase(state.begin() + 2);                 // first.bias missing
  state.emplace_back("third.weight", ones({3}));  // unexpected
  state[0].second = ones({2});                    // gain: wrong shape
  EXPECT_TRUE(throws_with<ValueError>([&] { net.load_state_dict(state); }, "missing from the file (1): first.bias"));
  EXPECT_TRUE(throws_with<ValueError>([&] { net.load_state_dict(state); }, "unexpected in the file (1): third.weight"));
  EXPECT_TRUE(
      throws_with<ValueError>([&] { net.load_state_dict(state); }, "wrong shape (1): gain: expected [1], found [2]"));
  const nn::Module::LoadReport r = net.load_state_dict(state, /*strict=*/false);
  EXPECT_EQ(r.missing, (std::vector<std::string>{"first.bias"}));
  EXPECT_EQ(r.unexpected, (std::vector<std::string>{"third.weight"}));
  EXPECT_EQ(r.mismatched.size(), 1u);
  EXPECT_FALSE(r.ok());
}

TEST(Module, TrainEvalIsRecursive) {
  Net net;
  net.eval();
  for (const auto& [n, m] : net.named_modules()) EXPECT_FALSE(m->is_training()) << n;
  net.train();
  for (const auto& [n, m] : net.named_modules()) EXPECT_TRUE(m->is_training()) << n;
}

TEST(Module, ForwardBackwardReachesEveryParameterAndZeroGradClears) {
  Net net;
  const Tensor y = net(from_vector<float>({1, 2, 3}));
  y.backward(ones({3}));
  EXPECT_TRUE(net.first->scale.grad().defined());
  EXPECT_TRUE(net.second->shift.grad().defined());
  net.zero_grad();
  for (const auto& [n, p] : net.named_parameters()) EXPECT_FALSE(p.grad().defined()) << n;
}

TEST(Module, SummaryRecorderSeesEveryCall) {
  Net net;
  nn::SummaryRecorder rec;
  net(zeros({4, 3}));
  ASSERT_EQ(rec.rows().size(), 3u);  // first, second, then net itself (calls finish inside out)
  EXPECT_EQ(rec.rows()[0].module, net.first.get());
  EXPECT_EQ(rec.rows()[2].module, &net);
  EXPECT_EQ(rec.rows()[2].out, (Shape{4, 3}));
}

TEST(Module, RegistrationErrors) {
  struct Bad : nn::Module {
    Bad() : nn::Module("Bad") {}
    Tensor forward(const Tensor& x) override { return x; }
    void dotted() { register_parameter("a.b", ones({1})); }
    void twice() {
      register_module("c", std::make_shared<Bad>());
      register_module("c", std::make_shared<Bad>());
    }
  };
  Bad m;
  EXPECT_TRUE(throws_with<ValueError>([&] { m.dotted(); }, "parameter name 'a.b'"));
  EXPECT_TRUE(throws_with<ValueError>([&] { m.twice(); }, "two children named 'c'"));
}

}  // namespace
}  // namespace kdcu
