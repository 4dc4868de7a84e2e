// nn layers: each forward equals the op it wraps, PyTorch's state_dict names/layouts, BatchNorm's
// running statistics and num_batches_tracked, Dropout's generator, Sequential naming, FLOPs.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/factories.h"
#include "nn/layers.h"
#include "ops/batch_norm.h"
#include "ops/dropout.h"
#include "ops/elementwise.h"
#include "ops/linear.h"
#include "ops/pool.h"
#include "tests/support/checks.h"

namespace kdcu {
namespace {

using testing::all_close;
using testing::throws_with;

// "name[d0, d1]" for every state_dict entry, in order.
std::vector<std::string> layout(const nn::Module& m) {
  std::vector<std::string> out;
  for (const auto& [n, t] : m.state_dict()) out.push_back(n + shape_str(t.shape()));
  return out;
}

Tensor input(const Shape& shape, std::uint64_t seed) {
  Generator gen(seed);
  return randn(shape, gen);
}

TEST(NnLinear, ForwardIsOpsLinearWithPyTorchLayout) {
  Generator gen(1);
  nn::Linear fc(7, 3, true, {&gen});
  EXPECT_EQ(layout(fc), (std::vector<std::string>{"weight[3, 7]", "bias[3]"}));
  const Tensor x = input({5, 7}, 2);
  EXPECT_TRUE(all_close(fc(x), ops::linear(x, fc.weight(), fc.bias())));
  // Rows of any leading shape: [2, 5, 7] is five-row batches of two.
  const Tensor x3 = input({2, 5, 7}, 3);
  const Tensor y3 = fc(x3);
  EXPECT_EQ(y3.shape(), (Shape{2, 5, 3}));
  EXPECT_TRUE(all_close(y3.reshape({10, 3}), ops::linear(x3.reshape({10, 7}), fc.weight(), fc.bias())));
  EXPECT_EQ(fc.flops({5, 7}, {5, 3}), 5.0 * (2 * 7 * 3 + 3));

  nn::Linear no_bias(7, 3, false, {&gen});
  EXPECT_EQ(layout(no_bias), (std::vector<std::string>{"weight[3, 7]"}));
  EXPECT_FALSE(no_bias.bias().defined());
  EXPECT_TRUE(all_close(no_bias(x), ops::linear(x, no_bias.weight())));
  EXPECT_EQ(no_bias.flops({5, 7}, {5, 3}), 5.0 * 2 * 7 * 3);

  EXPECT_TRUE(throws_with<ShapeError>([&] { fc(input({5, 6}, 4)); }, "Linear(7 -> 3): expected input [..., 7]"));
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::Linear(0, 3); }, "in_features and out_features >= 1"));
}

TEST(NnConv2d, ForwardIsOpsConv2dWithOihwWeights) {
  Generator gen(5);
  nn::Conv2d conv(3, 4, 3, 2, 1, 1, true, {&gen});
  EXPECT_EQ(layout(conv), (std::vector<std::string>{"weight[4, 3, 3, 3]", "bias[4]"}));
  const Tensor x = input({2, 3, 7, 6}, 6);
  const Tensor y = conv(x);
  EXPECT_EQ(y.shape(), (Shape{2, 4, 4, 3}));
  EXPECT_TRUE(all_close(y, ops::conv2d(x, conv.weight(), conv.bias(), {2, 2}, {1, 1}, {1, 1})));
  // 2 Cin kh kw per output element plus the bias, for every output element of the batch.
  EXPECT_EQ(conv.flops(x.shape(), y.shape()), (2.0 * 3 * 3 * 3 + 1) * 2 * 4 * 4 * 3);

  // Rectangular kernel, stride, padding and dilation; no bias.
  nn::Conv2d rect(3, 5, nn::Pair{3, 1}, nn::Pair{1, 2}, nn::Pair{2, 0}, nn::Pair{2, 1}, false, {&gen});
  EXPECT_EQ(layout(rect), (std::vector<std::string>{"weight[5, 3, 3, 1]"}));
  EXPECT_TRUE(all_close(rect(x), ops::conv2d(x, rect.weight(), Tensor(), {1, 2}, {2, 0}, {2, 1})));
  EXPECT_EQ(rect.kernel(), (nn::Pair{3, 1}));
  EXPECT_EQ(rect.dilation(), (nn::Pair{2, 1}));

  EXPECT_TRUE(throws_with<ValueError>([&] { nn::Conv2d(3, 4, 3, 0); }, "Conv2d: expected kernel, stride"));
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::Conv2d(3, 4, 3, 1, -1); }, "padding (-1, -1)"));
}

TEST(NnBatchNorm, StateDictIsPyTorchs) {
  nn::BatchNorm2d bn(6);
  EXPECT_EQ(layout(bn), (std::vector<std::string>{"weight[6]", "bias[6]", "running_mean[6]", "running_var[6]",
                                                  "num_batches_tracked[]"}));
  EXPECT_EQ(bn.num_batches_tracked().dtype(), DType::I64);
  EXPECT_EQ(bn.num_batches_tracked().item<std::int64_t>(), 0);
  EXPECT_EQ(bn.weight().to_vector<float>(), std::vector<float>(6, 1.0f));
  EXPECT_EQ(bn.bias().to_vector<float>(), std::vector<float>(6, 0.0f));
  EXPECT_EQ(bn.running_mean().to_vector<float>(), std::vector<float>(6, 0.0f));
  EXPECT_EQ(bn.running_var().to_vector<float>(), std::vector<float>(6, 1.0f));
  EXPECT_EQ(bn.named_parameters().size(), 2u);  // the statistics are buffers, not parameters
  EXPECT_FALSE(bn.running_mean().requires_grad());
}

TEST(NnBatchNorm, TrainingUsesBatchStatisticsAndUpdatesRunningOnesAndTheCounter) {
  nn::BatchNorm2d bn(3, 1e-5, 0.2);
  Generator gen(7);
  nn::init::uniform_(bn.weight(), 0.5, 1.5, gen);
  nn::init::normal_(bn.bias(), 0.0, 0.1, gen);
  const Tensor x = input({4, 3, 5, 5}, 8);
  // The op on copies of the running statistics gives the expected output and updated copies.
  const Tensor rm = bn.running_mean().clone(), rv = bn.running_var().clone();
  const Tensor expected = ops::batch_norm(x, bn.weight(), bn.bias(), rm, rv, true, 0.2, 1e-5);
  EXPECT_TRUE(all_close(bn(x), expected));
  EXPECT_TRUE(all_close(bn.running_mean(), rm));
  EXPECT_TRUE(all_close(bn.running_var(), rv));
  EXPECT_EQ(bn.num_batches_tracked().item<std::int64_t>(), 1);
  bn(x);
  EXPECT_EQ(bn.num_batches_tracked().item<std::int64_t>(), 2);
  {
    autograd::NoGradGuard no_grad;  // a training forward under no-grad still tracks, as PyTorch
    bn(x);
  }
  EXPECT_EQ(bn.num_batches_tracked().item<std::int64_t>(), 3);
}

TEST(NnBatchNorm, EvalUsesRunningStatisticsAndChangesNothing) {
  nn::BatchNorm2d bn(3);
  Generator gen(9);
  nn::init::normal_(bn.running_mean(), 0.0, 0.1, gen);
  nn::init::uniform_(bn.running_var(), 0.5, 1.5, gen);
  const Tensor rm = bn.running_mean().clone(), rv = bn.running_var().clone();
  bn.eval();
  const Tensor x = input({2, 3, 4, 4}, 10);
  EXPECT_TRUE(all_close(bn(x), ops::batch_norm(x, bn.weight(), bn.bias(), rm, rv, false)));
  EXPECT_EQ(bn.running_mean().to_vector<float>(), rm.to_vector<float>());
  EXPECT_EQ(bn.running_var().to_vector<float>(), rv.to_vector<float>());
  EXPECT_EQ(bn.num_batches_tracked().item<std::int64_t>(), 0);
  EXPECT_EQ(bn.flops(x.shape(), x.shape()), 2.0 * 3 * 4 * 4);
}

TEST(NnBatchNorm, OneDimensionalAndRankErrors) {
  nn::BatchNorm1d bn(5);
  const Tensor x = input({8, 5}, 11);
  const Tensor rm = bn.running_mean().clone(), rv = bn.running_var().clone();
  EXPECT_TRUE(all_close(bn(x), ops::batch_norm(x, bn.weight(), bn.bias(), rm, rv, true)));
  EXPECT_TRUE(all_close(bn.running_var(), rv));
  EXPECT_EQ(bn(input({8, 5, 3}, 12)).shape(), (Shape{8, 5, 3}));  // [N, C, L]
  EXPECT_TRUE(throws_with<ShapeError>([&] { bn(input({8, 5, 2, 2}, 13)); }, "BatchNorm1d(5): expected input [N, C]"));
  nn::BatchNorm2d bn2(5);
  EXPECT_TRUE(throws_with<ShapeError>([&] { bn2(x); }, "BatchNorm2d(5): expected input [N, C, H, W] with C = 5"));
  EXPECT_TRUE(throws_with<ShapeError>([&] { bn2(input({2, 4, 3, 3}, 14)); }, "found [2, 4, 3, 3]"));
  EXPECT_EQ(bn2.num_batches_tracked().item<std::int64_t>(), 0);  // rejected batches count nothing
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::BatchNorm2d(4, 1e-5, 1.5); }, "momentum in [0, 1]"));
}

TEST(NnSimpleLayers, ReluIdentityFlatten) {
  const Tensor x = input({2, 3, 4, 5}, 15);
  nn::ReLU relu;
  EXPECT_TRUE(all_close(relu(x), ops::relu(x)));
  EXPECT_EQ(relu.flops(x.shape(), x.shape()), 120.0);
  nn::Identity id;
  EXPECT_TRUE(id(x).is_same(x));
  nn::Flatten flat;
  EXPECT_EQ(flat(x).shape(), (Shape{2, 60}));
  EXPECT_EQ(flat(x).raw_data(), x.raw_data());  // a view
  EXPECT_EQ(nn::Flatten(0, 1)(x).shape(), (Shape{6, 4, 5}));
  EXPECT_EQ(flat.flops(x.shape(), {2, 60}), 0.0);
  EXPECT_TRUE(relu.state_dict().empty() && id.state_dict().empty() && flat.state_dict().empty());
}

TEST(NnPool, ForwardsAreTheOps) {
  const Tensor x = input({2, 3, 7, 6}, 16);
  nn::MaxPool2d max2(2);
  EXPECT_TRUE(all_close(max2(x), ops::max_pool2d(x, {2, 2})));
  EXPECT_EQ(max2(x).shape(), (Shape{2, 3, 3, 3}));
  EXPECT_EQ(max2.flops(x.shape(), {2, 3, 3, 3}), 4.0 * 54);
  nn::MaxPool2d max3(3, 2, 1);
  EXPECT_TRUE(all_close(max3(x), ops::max_pool2d(x, {3, 3}, {2, 2}, {1, 1})));
  nn::AvgPool2d avg(nn::Pair{3, 2}, nn::Pair{2, 1}, nn::Pair{1, 0}, false);
  EXPECT_TRUE(all_close(avg(x), ops::avg_pool2d(x, {3, 2}, {2, 1}, {1, 0}, false)));
  nn::AdaptiveAvgPool2d gap;
  EXPECT_TRUE(all_close(gap(x), ops::global_avg_pool2d(x)));
  EXPECT_EQ(gap(x).shape(), (Shape{2, 3, 1, 1}));
  EXPECT_EQ(gap.flops(x.shape(), {2, 3, 1, 1}), 252.0);
  EXPECT_TRUE(throws_with<ValueError>([] { nn::AdaptiveAvgPool2d(2); }, "only output size 1"));
  EXPECT_TRUE(throws_with<ValueError>([] { nn::MaxPool2d(2, 2, 2); }, "padding <= kernel / 2"));
}

TEST(NnDropout, EvalIsIdentityAndTrainingIsTheOpWithTheLayersGenerator) {
  const Tensor x = input({4, 50}, 17);
  auto gen = std::make_shared<Generator>(42);
  nn::Dropout drop(0.3, gen);
  drop.eval();
  EXPECT_TRUE(drop(x).is_same(x));
  EXPECT_EQ(gen->offset(), 0u);  // eval draws nothing
  drop.train();
  Generator same(42);
  const Tensor y = drop(x);
  EXPECT_TRUE(all_close(y, ops::dropout(x, 0.3, true, same)));
  EXPECT_EQ(gen->offset(), same.offset());
  EXPECT_GT(gen->offset(), 0u);
  EXPECT_FALSE(all_close(drop(x), y));  // the next mask is a fresh one
  EXPECT_TRUE(throws_with<ValueError>([] { nn::Dropout(1.5); }, "p in [0, 1]"));
}

TEST(NnDropout, CheckpointingTheGeneratorRepeatsTheMasks) {
  const Tensor x = input({3, 40}, 18);
  auto gen = std::make_shared<Generator>(7);
  nn::Dropout a(0.5, gen), b(0.5, gen);  // two layers sharing one stream
  a(x);
  const std::uint64_t seed = gen->seed(), offset = gen->offset();  // what a checkpoint saves
  const Tensor first = b(x), second = a(x);
  gen->set_state(seed, offset);  // resume
  EXPECT_TRUE(all_close(b(x), first));
  EXPECT_TRUE(all_close(a(x), second));
  // A null generator means the process default one; set_dropout_generator reaches nested layers.
  nn::Dropout d(0.5);
  EXPECT_EQ(d.generator().get(), &default_generator());
  nn::Sequential seq;
  auto inner = seq.push_back(std::make_shared<nn::Dropout>(0.2));
  nn::set_dropout_generator(seq, gen);
  EXPECT_EQ(inner->generator(), gen);
}

TEST(NnSequential, NamesChildrenByIndexAndChainsThem) {
  Generator gen(19);
  nn::Sequential seq;
  auto fc1 = seq.push_back(std::make_shared<nn::Linear>(4, 6, true, nn::LayerOptions{&gen}));
  seq.push_back(std::make_shared<nn::ReLU>());
  auto fc2 = seq.push_back(std::make_shared<nn::Linear>(6, 2, false, nn::LayerOptions{&gen}));
  EXPECT_EQ(layout(seq), (std::vector<std::string>{"0.weight[6, 4]", "0.bias[6]", "2.weight[2, 6]"}));
  EXPECT_EQ(seq.size(), 3);
  EXPECT_EQ(&seq[0], fc1.get());
  EXPECT_EQ(seq.at(-1).get(), fc2.get());
  EXPECT_TRUE(throws_with<ValueError>([&] { seq.at(3); }, "index 3 out of range for 3 modules"));
  const Tensor x = input({5, 4}, 20);
  EXPECT_TRUE(all_close(seq(x), (*fc2)(ops::relu((*fc1)(x)))));
  // Nested, as a ResNet stage: "0.downsample.1.running_mean".
  nn::Sequential outer({std::make_shared<nn::Identity>(), std::make_shared<nn::Sequential>()});
  auto& inner = dynamic_cast<nn::Sequential&>(outer[1]);
  inner.push_back(std::make_shared<nn::BatchNorm1d>(2));
  EXPECT_EQ(outer.state_dict()[2].first, "1.0.running_mean");
  EXPECT_TRUE(nn::Sequential().empty());
  EXPECT_TRUE(nn::Sequential()(x).is_same(x));
}

TEST(NnLayers, BuildInF64) {
  Generator gen(21);
  const nn::LayerOptions f64{&gen, DType::F64};
  nn::Linear fc(3, 2, true, f64);
  nn::Conv2d conv(2, 2, 3, 1, 1, 1, true, f64);
  nn::BatchNorm2d bn(2, 1e-5, 0.1, f64);
  for (const nn::Module* m :
       {static_cast<nn::Module*>(&fc), static_cast<nn::Module*>(&conv), static_cast<nn::Module*>(&bn)})
    for (const auto& [n, t] : m->state_dict())
      EXPECT_EQ(t.dtype(), n == "num_batches_tracked" ? DType::I64 : DType::F64) << m->type_name() << "." << n;
  Generator data(22);
  EXPECT_EQ(bn(conv(randn({2, 2, 4, 4}, data, DType::F64))).dtype(), DType::F64);
  EXPECT_EQ(fc(randn({4, 3}, data, DType::F64)).dtype(), DType::F64);
}

}  // namespace
}  // namespace kdcu
