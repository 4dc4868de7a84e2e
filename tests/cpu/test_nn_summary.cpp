// nn::summary / summarize: one row per module call in call order, own parameters that add up to
// num_parameters(), FLOPs per image by the documented convention, modes and BN state untouched.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/factories.h"
#include "nn/batch_norm.h"
#include "nn/linear.h"
#include "nn/model.h"
#include "nn/summary.h"
#include "tests/support/checks.h"

namespace kdcu {
namespace {

using testing::throws_with;

std::vector<std::string> row_names(const nn::SummaryTotals& t) {
  std::vector<std::string> out;
  for (const nn::SummaryRow& r : t.rows) out.push_back(r.name);
  return out;
}

// Own parameters over the distinct modules called must add up to the model's total: every
// parametrised module ran once at least and none is counted twice.
std::int64_t distinct_parameters(const nn::SummaryTotals& t) {
  std::map<std::string, std::int64_t> per_module;
  for (const nn::SummaryRow& r : t.rows) per_module[r.name] = r.parameters;
  std::int64_t n = 0;
  for (const auto& [name, p] : per_module) n += p;
  return n;
}

TEST(NnSummary, CnnSmallRowsAndHandCountedFlops) {
  Generator gen(1);
  const nn::ModelPtr m = nn::create_model("cnn_small", {}, gen);
  const nn::SummaryTotals t = nn::summarize(*m);
  EXPECT_EQ(row_names(t),
            (std::vector<std::string>{"", "conv1", "relu", "pool", "conv2", "relu", "pool", "fc1", "relu", "fc2"}));
  EXPECT_EQ(t.input_shape, (Shape{1, 1, 28, 28}));
  EXPECT_EQ(t.output_shape, (Shape{1, 10}));
  EXPECT_EQ(t.rows[1].output_shape, (Shape{1, 16, 28, 28}));
  EXPECT_EQ(t.rows[1].type, "Conv2d");
  EXPECT_EQ(t.rows[1].parameters, 16 * 9 + 16);
  EXPECT_EQ(t.rows[0].type, "CnnSmall");
  EXPECT_EQ(t.rows[0].depth, 0);
  EXPECT_EQ(t.rows[1].depth, 1);
  EXPECT_EQ(t.parameters, 105866);
  EXPECT_EQ(distinct_parameters(t), m->num_parameters());
  // By hand: conv = (2 Cin k k + 1) Cout OH OW, ReLU one per element, 2x2 max-pool 4 per output,
  // linear 2 in out + out.
  const double conv1 = (2.0 * 1 * 9 + 1) * 16 * 28 * 28, relu1 = 16 * 28 * 28, pool1 = 4.0 * 16 * 14 * 14;
  const double conv2 = (2.0 * 16 * 9 + 1) * 32 * 14 * 14, relu2 = 32 * 14 * 14, pool2 = 4.0 * 32 * 7 * 7;
  const double fc1 = 2.0 * 1568 * 64 + 64, relu3 = 64, fc2 = 2.0 * 64 * 10 + 10;
  EXPECT_EQ(t.rows[4].flops, conv2);
  EXPECT_EQ(t.flops, conv1 + relu1 + pool1 + conv2 + relu2 + pool2 + fc1 + relu3 + fc2);
  EXPECT_EQ(t.flops, 2290698.0);
}

TEST(NnSummary, TableNamesTheLayersAndTotals) {
  Generator gen(2);
  const nn::ModelPtr m = nn::create_model("cnn_small", {}, gen);
  const std::string table = nn::summary(*m);
  for (const char* needle :
       {"cnn_small (CnnSmall): input [1, 1, 28, 28] -> output [1, 10]", "conv1", "Conv2d", "[1, 16, 28, 28]",
        "MaxPool2d", "fc2", "parameters: 105,866 (105.87K)", "FLOPs per image: 2,290,698 (2.29M FLOPs)", "1,812,608"})
    EXPECT_NE(table.find(needle), std::string::npos) << needle << " not in\n" << table;
}

TEST(NnSummary, ResNetRowsAreInCallOrderAndNestingIsShown) {
  Generator gen(3);
  const nn::ModelPtr m = nn::create_model("resnet20", {}, gen);
  const nn::SummaryTotals t = nn::summarize(*m);
  const std::vector<std::string> names = row_names(t);
  auto index = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) - names.begin(); };
  EXPECT_EQ(names.front(), "");
  EXPECT_EQ(names.back(), "fc");
  EXPECT_LT(index("layer2"), index("layer2.0"));
  EXPECT_LT(index("layer2.0"), index("layer2.0.conv1"));
  EXPECT_LT(index("layer2.0.bn2"), index("layer2.0.downsample"));
  EXPECT_LT(index("layer2.0.downsample"), index("layer2.0.downsample.0"));
  EXPECT_LT(index("layer2.0.downsample.1"), index("layer2.1"));
  EXPECT_LT(index("avgpool"), index("fc"));
  EXPECT_EQ(t.rows[static_cast<size_t>(index("layer2.0.downsample.0"))].depth, 4);
  EXPECT_EQ(t.rows[static_cast<size_t>(index("layer3.2"))].output_shape, (Shape{1, 64, 7, 7}));
  EXPECT_EQ(t.parameters, 272186);
  EXPECT_EQ(distinct_parameters(t), t.parameters);
  double sum = 0;
  for (const nn::SummaryRow& r : t.rows) sum += r.flops;
  EXPECT_EQ(t.flops, sum);
  const std::string table = nn::summary(*m);
  EXPECT_NE(table.find("\n      layer2.0.downsample.0  Conv2d"), std::string::npos) << table;
}

TEST(NnSummary, LeavesModesAndRunningStatisticsAlone) {
  Generator gen(4);
  const nn::ModelPtr m = nn::create_model("resnet20", {}, gen);
  const auto& bn = dynamic_cast<const nn::BatchNorm&>(*m->named_modules()[2].second);
  ASSERT_EQ(m->named_modules()[2].first, "bn1");
  nn::summarize(*m, {1, 12, 12});  // any image size works for a ResNet
  EXPECT_TRUE(m->is_training());
  for (const auto& [n, sub] : m->named_modules()) EXPECT_TRUE(sub->is_training()) << n;
  EXPECT_EQ(bn.num_batches_tracked().item<std::int64_t>(), 0);
  EXPECT_EQ(bn.running_var().to_vector<float>(), std::vector<float>(16, 1.0f));
  m->eval();
  m->named_modules()[1].second->train();  // a mixed state survives too
  nn::summarize(*m);
  EXPECT_FALSE(m->is_training());
  EXPECT_TRUE(m->named_modules()[1].second->is_training());
  EXPECT_FALSE(m->named_modules()[2].second->is_training());
}

TEST(NnSummary, AnyModuleAndErrors) {
  Generator gen(5);
  nn::Linear fc(6, 4, true, {&gen});
  const nn::SummaryTotals t = nn::summarize(fc, {6});
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.rows[0].flops, 2.0 * 6 * 4 + 4);
  EXPECT_EQ(t.parameters, 28);
  EXPECT_NE(nn::summary(fc, {6}).find("Linear: input [1, 6] -> output [1, 4]"), std::string::npos);
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::summarize(fc, {0}); }, "extents >= 1"));
  EXPECT_TRUE(throws_with<ShapeError>([&] { nn::summarize(fc, {5}); }, "Linear(6 -> 4)"));
  EXPECT_TRUE(fc.is_training());  // restored after the throw
}

TEST(NnSummary, NumberFormats) {
  EXPECT_EQ(nn::thousands(0), "0");
  EXPECT_EQ(nn::thousands(999), "999");
  EXPECT_EQ(nn::thousands(1000), "1,000");
  EXPECT_EQ(nn::thousands(11172810), "11,172,810");
  EXPECT_EQ(nn::thousands(-1234567), "-1,234,567");
  EXPECT_EQ(nn::si_units(512), "512");
  EXPECT_EQ(nn::si_units(272186), "272.19K");
  EXPECT_EQ(nn::si_units(40.8e6), "40.80M");
  EXPECT_EQ(nn::si_units(1.5e9), "1.50G");
}

}  // namespace
}  // namespace kdcu
