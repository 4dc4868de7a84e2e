// The model zoo: registry, PyTorch-identical state_dict layouts and parameter counts for every
// model, gradients to every parameter, named features, determinism, and an f64 gradient check
// through a BasicBlock with a downsample shortcut.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/factories.h"
#include "core/hash.h"
#include "nn/model.h"
#include "nn/resnet.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/reduce.h"
#include "tests/support/checks.h"
#include "tests/support/gradcheck.h"

namespace kdcu {
namespace {

using testing::all_close;
using testing::throws_with;

// The reference's numbers, printed by `/usr/bin/python3 tests/golden/make_models.py --fingerprints`
// (the same as from shared/reference/torch_models.py): parameters, state_dict entries, state_dict
// elements (buffers included), FNV-1a 64 of "name[d0, d1, ...]\n" over the state_dict in order.
struct Fingerprint {
  const char* name;
  std::int64_t parameters, entries, elements;
  std::uint64_t layout_hash;
};
const Fingerprint kReference[] = {
    {"resnet20", 272186, 128, 273775, 0xa16ec98614748897ull},
    {"resnet32", 466618, 200, 469115, 0xb0236c175257f233ull},
    {"resnet44", 661050, 272, 664455, 0xa9ca4e274b69d44full},
    {"resnet56", 855482, 344, 859795, 0x86fd62f64410b273ull},
    {"resnet110", 1730426, 668, 1738825, 0xb372234fc8fbc45dull},
    {"resnet20x4", 4326602, 128, 4332895, 0xbfcc3c7a750db88dull},
    {"resnet18", 11172810, 122, 11182430, 0xc05929bfbed441b8ull},
    {"cnn_small", 105866, 8, 105866, 0x4aa8604f90a8cc15ull},
    {"mlp_teacher", 2395210, 6, 2395210, 0xa7b738ea0cdd7b97ull},
    {"mlp_student", 1276810, 6, 1276810, 0x700fffdb0680f4fbull},
};

std::string layout_text(const nn::Module& m) {
  std::string s;
  for (const auto& [n, t] : m.state_dict()) s += n + shape_str(t.shape()) + "\n";
  return s;
}

std::uint64_t fnv1a(const std::string& s) {
  return kdcu::fnv1a(s.data(), s.size());
}

nn::ModelConfig small_images(std::int64_t image_size = 8) {
  nn::ModelConfig cfg;
  cfg.image_size = image_size;
  return cfg;
}

TEST(NnModels, RegistryNamesAndErrors) {
  const std::vector<std::string> names = nn::model_names();
  for (const Fingerprint& f : kReference)
    EXPECT_NE(std::find(names.begin(), names.end(), f.name), names.end()) << f.name;
  Generator gen(1);
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::create_model("resnet21", {}, gen); },
                                      "unknown model 'resnet21'; known models: resnet20, resnet32"));
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::create_model("vgg", {}, gen); }, "mlp_student"));
  nn::ModelConfig bad;
  bad.num_classes = 0;
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::create_model("resnet20", bad, gen); }, "num_classes=0"));
  nn::ModelConfig wide;
  wide.width_mult = 2;
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::create_model("cnn_small", wide, gen); }, "no width multiplier"));
  nn::ModelConfig ints;
  ints.dtype = DType::I64;
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::create_model("cnn_small", ints, gen); }, "floating dtype"));
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::resnet_cifar(21, {}, gen); }, "6n + 2"));
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::create_model("cnn_small", small_images(3), gen); }, "image_size >= 4"));
}

TEST(NnModels, RegisterModelAddsANameOnce) {
  nn::register_model("test_tiny_resnet", [](const nn::ModelConfig& cfg, Generator& gen) -> nn::ModelPtr {
    return std::make_shared<nn::ResNet>(std::vector<std::int64_t>{1}, std::vector<std::int64_t>{4}, cfg, gen);
  });
  EXPECT_EQ(nn::model_names().back(), "test_tiny_resnet");
  Generator gen(2);
  const nn::ModelPtr m = nn::create_model("test_tiny_resnet", small_images(), gen);
  EXPECT_EQ(m->name(), "test_tiny_resnet");
  EXPECT_EQ(m->feature_names(), (std::vector<std::string>{"stem", "layer1", "pool"}));
  EXPECT_TRUE(throws_with<ValueError>([] { nn::register_model("resnet20", nullptr); }, "expected a name and a"));
  EXPECT_TRUE(throws_with<ValueError>(
      [] { nn::register_model("resnet20", [](const nn::ModelConfig&, Generator&) { return nn::ModelPtr(); }); },
      "'resnet20' is taken"));
}

// Names, order, shapes and parameter counts of every model equal the PyTorch reference's.
TEST(NnModels, StateDictLayoutsAndParameterCountsMatchTheReference) {
  for (const Fingerprint& f : kReference) {
    Generator gen(3);
    const nn::ModelPtr m = nn::create_model(f.name, {}, gen);
    EXPECT_EQ(m->name(), f.name);
    EXPECT_EQ(m->num_parameters(), f.parameters) << f.name;
    const nn::NamedTensors state = m->state_dict();
    std::int64_t elements = 0;
    for (const auto& [n, t] : state) elements += t.numel();
    EXPECT_EQ(static_cast<std::int64_t>(state.size()), f.entries) << f.name;
    EXPECT_EQ(elements, f.elements) << f.name;
    EXPECT_EQ(fnv1a(layout_text(*m)), f.layout_hash) << f.name << " state_dict layout:\n" << layout_text(*m);
  }
}

TEST(NnModels, CnnSmallAndResNet20LayoutsSpelledOut) {
  Generator gen(4);
  const nn::ModelPtr cnn = nn::create_model("cnn_small", {}, gen);
  EXPECT_EQ(layout_text(*cnn),
            "conv1.weight[16, 1, 3, 3]\nconv1.bias[16]\nconv2.weight[32, 16, 3, 3]\nconv2.bias[32]\n"
            "fc1.weight[64, 1568]\nfc1.bias[64]\nfc2.weight[10, 64]\nfc2.bias[10]\n");
  const nn::ModelPtr r20 = nn::create_model("resnet20", {}, gen);
  const std::string text = layout_text(*r20);
  EXPECT_EQ(text.substr(0, text.find("layer1.1.")),
            "conv1.weight[16, 1, 3, 3]\nbn1.weight[16]\nbn1.bias[16]\nbn1.running_mean[16]\nbn1.running_var[16]\n"
            "bn1.num_batches_tracked[]\n"
            "layer1.0.conv1.weight[16, 16, 3, 3]\nlayer1.0.bn1.weight[16]\nlayer1.0.bn1.bias[16]\n"
            "layer1.0.bn1.running_mean[16]\nlayer1.0.bn1.running_var[16]\nlayer1.0.bn1.num_batches_tracked[]\n"
            "layer1.0.conv2.weight[16, 16, 3, 3]\nlayer1.0.bn2.weight[16]\nlayer1.0.bn2.bias[16]\n"
            "layer1.0.bn2.running_mean[16]\nlayer1.0.bn2.running_var[16]\nlayer1.0.bn2.num_batches_tracked[]\n");
  EXPECT_NE(text.find("layer2.0.bn2.num_batches_tracked[]\nlayer2.0.downsample.0.weight[32, 16, 1, 1]\n"
                      "layer2.0.downsample.1.weight[32]\n"),
            std::string::npos);
  EXPECT_EQ(text.find("layer1.0.downsample"), std::string::npos);  // same width, stride 1: identity
  EXPECT_NE(text.find("layer3.2.bn2.num_batches_tracked[]\nfc.weight[10, 64]\nfc.bias[10]\n"), std::string::npos);
  // Input channels, classes, width and image size reach the right layers.
  nn::ModelConfig cfg;
  cfg.in_channels = 3;
  cfg.num_classes = 100;
  cfg.image_size = 32;
  cfg.width_mult = 2;
  const nn::ModelPtr wide = nn::create_model("resnet20", cfg, gen);
  EXPECT_EQ(wide->state_dict().front().second.shape(), (Shape{32, 3, 3, 3}));
  EXPECT_EQ(wide->state_dict()[wide->state_dict().size() - 2].second.shape(), (Shape{100, 128}));
  EXPECT_EQ(wide->state_dict().back().second.shape(), (Shape{100}));
  cfg.width_mult = 1;
  const nn::ModelPtr cnn32 = nn::create_model("cnn_small", cfg, gen);
  EXPECT_EQ(cnn32->state_dict()[4].second.shape(), (Shape{64, 32 * 8 * 8}));
  const nn::ModelPtr mlp = nn::create_model("mlp_teacher", cfg, gen);
  EXPECT_EQ(mlp->state_dict()[0].second.shape(), (Shape{1200, 3 * 32 * 32}));
}

// A training step's backward reaches every parameter of every model (small images keep it fast).
TEST(NnModels, GradientsReachEveryParameter) {
  for (const std::string& name : nn::model_names()) {
    if (name.rfind("test_", 0) == 0) continue;  // registered by another test
    Generator gen(5);
    const nn::ModelPtr m = nn::create_model(name, small_images(), gen);
    const Tensor x = randn({2, 1, 8, 8}, gen);
    const Tensor logits = (*m)(x);
    ASSERT_EQ(logits.shape(), (Shape{2, 10})) << name;
    ops::cross_entropy(logits, from_vector<std::int64_t>({3, 7})).backward();
    for (const auto& [n, p] : m->named_parameters()) {
      ASSERT_TRUE(p.grad().defined()) << name << "." << n;
      const std::vector<float> g = p.grad().to_vector<float>();
      EXPECT_TRUE(std::all_of(g.begin(), g.end(), [](float v) { return std::isfinite(v); })) << name << "." << n;
      EXPECT_TRUE(std::any_of(g.begin(), g.end(), [](float v) { return v != 0.0f; })) << name << "." << n;
    }
  }
}

void expect_features(nn::Model& m, const Tensor& x, const std::vector<Shape>& shapes) {
  m.eval();
  nn::NamedTensors features;
  const Tensor logits = m.forward_features(x, &features);
  const std::vector<std::string> names = m.feature_names();
  ASSERT_EQ(features.size(), names.size()) << m.name();
  ASSERT_EQ(features.size(), shapes.size()) << m.name();
  for (size_t i = 0; i < features.size(); ++i) {
    EXPECT_EQ(features[i].first, names[i]) << m.name();
    EXPECT_EQ(features[i].second.shape(), shapes[i]) << m.name() << " " << names[i];
  }
  EXPECT_TRUE(all_close(logits, m(x))) << m.name();  // the features change nothing
}

TEST(NnModels, FeaturesHaveTheDocumentedNamesAndShapes) {
  Generator gen(6);
  const Tensor x = randn({2, 1, 28, 28}, gen);
  auto r20 = nn::create_model("resnet20", {}, gen);
  EXPECT_EQ(r20->feature_names(), (std::vector<std::string>{"stem", "layer1", "layer2", "layer3", "pool"}));
  expect_features(*r20, x, {{2, 16, 28, 28}, {2, 16, 28, 28}, {2, 32, 14, 14}, {2, 64, 7, 7}, {2, 64}});
  auto r18 = nn::create_model("resnet18", small_images(), gen);
  expect_features(*r18, randn({2, 1, 8, 8}, gen),
                  {{2, 64, 8, 8}, {2, 64, 8, 8}, {2, 128, 4, 4}, {2, 256, 2, 2}, {2, 512, 1, 1}, {2, 512}});
  auto cnn = nn::create_model("cnn_small", {}, gen);
  EXPECT_EQ(cnn->feature_names(), (std::vector<std::string>{"conv1", "conv2", "hidden"}));
  expect_features(*cnn, x, {{2, 16, 14, 14}, {2, 32, 7, 7}, {2, 64}});
  auto mlp = nn::create_model("mlp_teacher", {}, gen);
  EXPECT_EQ(mlp->feature_names(), (std::vector<std::string>{"hidden1", "hidden2"}));
  expect_features(*mlp, x, {{2, 1200}, {2, 1200}});
  // Features are in the graph: a loss on one back-propagates into the layers before it.
  cnn->train();
  nn::NamedTensors features;
  cnn->forward_features(x, &features);
  ops::sum(features[0].second).backward();
  for (const auto& [n, p] : cnn->named_parameters()) EXPECT_EQ(p.grad().defined(), n.rfind("conv1.", 0) == 0) << n;
}

TEST(NnModels, SameSeedSameModel) {
  Generator a(7), b(7), c(8);
  const auto ma = nn::create_model("resnet20", {}, a), mb = nn::create_model("resnet20", {}, b),
             mc = nn::create_model("resnet20", {}, c);
  EXPECT_EQ(a.offset(), b.offset());
  bool all_same = true, any_differs = false;
  for (size_t i = 0; i < ma->state_dict().size(); ++i) {
    const Tensor ta = ma->state_dict()[i].second;
    if (ta.dtype() != DType::F32) continue;
    all_same = all_same && ta.to_vector<float>() == mb->state_dict()[i].second.to_vector<float>();
    any_differs = any_differs || ta.to_vector<float>() != mc->state_dict()[i].second.to_vector<float>();
  }
  EXPECT_TRUE(all_same);
  EXPECT_TRUE(any_differs);
}

// mlp_teacher's dropout draws from the model's own generator: deterministic from the init seed,
// and resuming its (seed, offset) repeats the masks.
TEST(NnModels, DropoutGeneratorIsTheModelsAndCheckpointable) {
  Generator a(9), b(9);
  const auto ma = nn::create_model("mlp_teacher", {}, a), mb = nn::create_model("mlp_teacher", {}, b);
  ASSERT_NE(ma->generator(), nullptr);
  EXPECT_EQ(ma->generator()->seed(), mb->generator()->seed());
  EXPECT_NE(ma->generator()->seed(), a.seed());
  const Tensor x = rand({4, 1, 28, 28}, a);
  const Tensor first = (*ma)(x);
  EXPECT_TRUE(all_close(first, (*mb)(x)));  // training mode: the same masks
  const std::uint64_t seed = ma->generator()->seed(), offset = ma->generator()->offset();  // a checkpoint
  const Tensor next = (*ma)(x);
  EXPECT_FALSE(all_close(next, first));      // a fresh mask
  ma->generator()->set_state(seed, offset);  // resume
  EXPECT_TRUE(all_close((*ma)(x), next));
  // Sharing one generator (a trainer's) across models.
  auto shared = std::make_shared<Generator>(123);
  ma->set_generator(shared);
  EXPECT_EQ(ma->generator(), shared);
  Generator none(10);
  EXPECT_EQ(nn::create_model("resnet20", small_images(), none)->generator(), nullptr);
  ma->eval();
  EXPECT_TRUE(all_close((*ma)(x), (*ma)(x)));  // eval: no dropout
}

// f64 central differences through a BasicBlock whose shortcut is a 1x1 conv + BN with stride 2,
// in training mode (gradients through the batch statistics) and in eval mode, for the input and
// every parameter.
TEST(NnModels, GradcheckBasicBlockWithDownsample) {
  for (bool training : {true, false}) {
    Generator gen(11);
    nn::BasicBlock block(2, 3, 2, {&gen, DType::F64});
    ASSERT_NE(block.downsample(), nullptr);
    for (const auto& [n, t] : block.named_buffers())
      if (n.find("running_var") != std::string::npos) nn::init::uniform_(t, 0.5, 1.5, gen);
    for (const auto& [n, t] : block.named_parameters())
      if (n.find("bn") != std::string::npos || n.find("downsample.1") != std::string::npos)
        nn::init::uniform_(t, 0.5, 1.5, gen);  // off the 1 / 0 defaults
    block.train(training);
    std::vector<Tensor> inputs{testing::leaf({3, 2, 5, 5}, 12)};
    for (const Tensor& p : block.parameters()) inputs.push_back(p);
    EXPECT_TRUE(testing::gradcheck([&](const std::vector<Tensor>& in) { return block(in[0]); }, inputs))
        << (training ? "training" : "eval");
  }
}

// A whole (tiny) ResNet and cnn_small built in f64 by create_model, checked w.r.t. the input.
TEST(NnModels, GradcheckTinyModelsInF64) {
  nn::ModelConfig cfg = small_images(6);
  cfg.num_classes = 3;
  cfg.dtype = DType::F64;
  Generator gen(13);
  const nn::ModelPtr resnet =
      std::make_shared<nn::ResNet>(std::vector<std::int64_t>{1, 1}, std::vector<std::int64_t>{3, 4}, cfg, gen);
  const nn::ModelPtr cnn = nn::create_model("cnn_small", cfg, gen);
  for (const nn::ModelPtr& m : {resnet, cnn}) {
    for (const auto& [n, t] : m->state_dict())
      EXPECT_EQ(t.dtype(), n.find("num_batches_tracked") == std::string::npos ? DType::F64 : DType::I64) << n;
    EXPECT_TRUE(testing::gradcheck([&](const std::vector<Tensor>& in) { return (*m)(in[0]); },
                                   {testing::leaf({2, 1, 6, 6}, 14)}))
        << m->type_name();
  }
}

}  // namespace
}  // namespace kdcu
