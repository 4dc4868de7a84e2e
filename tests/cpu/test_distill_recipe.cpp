// distill/recipe.h: make_optimizer builds the named optimizer with the recipe's hyper-parameters;
// make_schedule's shapes over a run (warm-up from 0.1 lr, cosine to min_lr, step, multistep at
// absolute epochs, onecycle); unknown names and bad values are ValueErrors naming them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"
#include "core/factories.h"
#include "distill/recipe.h"
#include "nn/optim.h"
#include "tests/support/checks.h"

namespace kdcu {
namespace {

using distill::OptimConfig;
using testing::throws_with;

nn::NamedTensors params() {
  Tensor w = zeros({3, 2});
  w.requires_grad_();
  return {{"w", w}};
}

TEST(DistillRecipe, MakeOptimizerKinds) {
  OptimConfig c;  // sgd, lr 0.05, momentum 0.9, nesterov, wd 5e-4
  auto sgd = distill::make_optimizer(c, params());
  EXPECT_EQ(sgd->type_name(), "SGD");
  EXPECT_EQ(sgd->lr(), 0.05);
  const auto* s = dynamic_cast<const nn::SGD*>(sgd.get());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->momentum(), 0.9);
  EXPECT_TRUE(s->nesterov());
  EXPECT_EQ(s->weight_decay(), 5e-4);
  // Nesterov needs momentum: without it the flag is dropped, not an error.
  c.momentum = 0.0;
  auto plain = distill::make_optimizer(c, params());
  EXPECT_FALSE(dynamic_cast<const nn::SGD*>(plain.get())->nesterov());

  OptimConfig a;
  a.optimizer = "adam";
  a.lr = 1e-3;
  a.beta1 = 0.8;
  a.beta2 = 0.99;
  a.eps = 1e-7;
  a.weight_decay = 0.0;
  auto adam = distill::make_optimizer(a, params());
  EXPECT_EQ(adam->type_name(), "Adam");
  const auto* ad = dynamic_cast<const nn::Adam*>(adam.get());
  ASSERT_NE(ad, nullptr);
  EXPECT_EQ(ad->betas(), std::make_pair(0.8, 0.99));
  EXPECT_EQ(ad->eps(), 1e-7);
  EXPECT_EQ(adam->lr(), 1e-3);

  a.optimizer = "adamw";
  a.weight_decay = 0.05;
  auto adamw = distill::make_optimizer(a, params());
  EXPECT_EQ(adamw->type_name(), "AdamW");
  EXPECT_NE(dynamic_cast<const nn::AdamW*>(adamw.get()), nullptr);
  EXPECT_EQ(dynamic_cast<const nn::Adam*>(adamw.get())->weight_decay(), 0.05);
}

TEST(DistillRecipe, CosineWithWarmup) {
  OptimConfig c;
  c.lr = 0.1;
  c.min_lr = 0.001;
  c.warmup_epochs = 1;
  const auto s = distill::make_schedule(c, 5, 10);  // 50 steps, 10 of warm-up
  EXPECT_NEAR(s->lr_at(0), 0.01, 1e-12);            // 0.1 lr
  for (int k = 1; k <= 10; ++k) EXPECT_GT(s->lr_at(k), s->lr_at(k - 1)) << k;
  EXPECT_NEAR(s->lr_at(10), 0.1, 1e-12);  // the peak right after the warm-up
  for (int k = 11; k < 50; ++k) EXPECT_LT(s->lr_at(k), s->lr_at(k - 1)) << k;
  EXPECT_NEAR(s->lr_at(49), 0.001, 2e-4);  // the last step is near min_lr
  EXPECT_NEAR(s->lr_at(50), 0.001, 1e-12);
  EXPECT_NEAR(s->lr_at(1000), 0.001, 1e-12);
  // Without warm-up the cosine starts at lr.
  c.warmup_epochs = 0;
  const auto t = distill::make_schedule(c, 5, 10);
  EXPECT_EQ(t->lr_at(0), 0.1);
  EXPECT_NEAR(t->lr_at(25), 0.001 + (0.1 - 0.001) * 0.5, 1e-12);
  // A fractional warm-up rounds to steps.
  c.warmup_epochs = 0.25;
  const auto u = distill::make_schedule(c, 5, 10);  // llround(2.5) = 3 steps
  EXPECT_NEAR(u->lr_at(0), 0.01, 1e-12);
  EXPECT_NEAR(u->lr_at(3), 0.1, 1e-12);
}

TEST(DistillRecipe, ConstantStepMultistepOnecycle) {
  OptimConfig c;
  c.lr = 0.2;
  c.schedule = "constant";
  const auto k = distill::make_schedule(c, 3, 7);
  for (int i : {0, 5, 20, 100}) EXPECT_EQ(k->lr_at(i), 0.2);

  c.schedule = "step";
  c.step_gamma = 0.5;
  const auto st = distill::make_schedule(c, 9, 10);  // every 9 / 3 = 3 epochs = 30 steps
  EXPECT_EQ(st->lr_at(29), 0.2);
  EXPECT_NEAR(st->lr_at(30), 0.1, 1e-12);
  EXPECT_NEAR(st->lr_at(60), 0.05, 1e-12);
  c.step_epochs = 2;
  const auto st2 = distill::make_schedule(c, 9, 10);
  EXPECT_NEAR(st2->lr_at(20), 0.1, 1e-12);

  c.schedule = "multistep";
  c.step_gamma = 0.1;
  c.milestones = "2,4";
  const auto ms = distill::make_schedule(c, 6, 10);
  EXPECT_EQ(ms->lr_at(19), 0.2);
  EXPECT_NEAR(ms->lr_at(20), 0.02, 1e-12);
  EXPECT_NEAR(ms->lr_at(39), 0.02, 1e-12);
  EXPECT_NEAR(ms->lr_at(40), 0.002, 1e-12);
  // With a warm-up the milestones stay at the same absolute epochs.
  c.warmup_epochs = 1;
  const auto mw = distill::make_schedule(c, 6, 10);
  EXPECT_NEAR(mw->lr_at(0), 0.02, 1e-12);
  EXPECT_NEAR(mw->lr_at(10), 0.2, 1e-12);
  EXPECT_NEAR(mw->lr_at(19), 0.2, 1e-12);
  EXPECT_NEAR(mw->lr_at(20), 0.02, 1e-12);
  EXPECT_NEAR(mw->lr_at(40), 0.002, 1e-12);

  c.schedule = "onecycle";
  c.warmup_epochs = 0;
  const auto oc = distill::make_schedule(c, 10, 10);
  EXPECT_NEAR(oc->lr_at(0), 0.2 / 25.0, 1e-12);
  double peak = 0.0;
  for (int i = 0; i < 100; ++i) peak = std::max(peak, oc->lr_at(i));
  EXPECT_NEAR(peak, 0.2, 1e-9);
  EXPECT_LT(oc->lr_at(99), 1e-5);
}

TEST(DistillRecipe, BadNamesAndValues) {
  const auto check = [](OptimConfig c) { return [c] { c.validate(); }; };
  OptimConfig c;
  c.optimizer = "rmsprop";
  EXPECT_TRUE(throws_with<ValueError>(check(c), "unknown optimizer 'rmsprop' (expected sgd, adam or adamw)"));
  EXPECT_TRUE(throws_with<ValueError>([&] { (void)distill::make_optimizer(c, params()); }, "'rmsprop'"));
  c = {};
  c.schedule = "linear";
  EXPECT_TRUE(throws_with<ValueError>(check(c), "unknown LR schedule 'linear'"));
  EXPECT_TRUE(throws_with<ValueError>([&] { (void)distill::make_schedule(c, 3, 3); }, "'linear'"));
  c = {};
  c.lr = 0.0;
  EXPECT_TRUE(throws_with<ValueError>(check(c), "the learning rate must be finite and > 0, found 0"));
  c.lr = -1.0;
  EXPECT_TRUE(throws_with<ValueError>(check(c), "found -1"));
  c.lr = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(throws_with<ValueError>(check(c), "found nan"));
  c = {};
  c.momentum = -0.5;
  EXPECT_TRUE(throws_with<ValueError>(check(c), "momentum"));
  c = {};
  c.weight_decay = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(throws_with<ValueError>(check(c), "weight decay"));
  c = {};
  c.clip_grad_norm = -1.0;
  EXPECT_TRUE(throws_with<ValueError>(check(c), "clip grad norm"));
  c = {};
  c.step_gamma = 0.0;
  EXPECT_TRUE(throws_with<ValueError>(check(c), "gamma must be in (0, 1], found 0"));
  c.step_gamma = 1.5;
  EXPECT_TRUE(throws_with<ValueError>(check(c), "found 1.5"));
  c = {};
  c.schedule = "onecycle";
  c.warmup_epochs = 1;
  EXPECT_TRUE(throws_with<ValueError>(check(c), "onecycle has its own warm-up"));
  c = {};
  c.schedule = "multistep";
  c.milestones = "5,x";
  EXPECT_TRUE(throws_with<ValueError>(check(c), "--milestones '5,x': 'x' is not a positive number of epochs"));
  c.milestones = "5,,8";
  EXPECT_TRUE(throws_with<ValueError>(check(c), "'' is not a positive number"));
  c.milestones = "-2";
  EXPECT_TRUE(throws_with<ValueError>(check(c), "'-2' is not a positive number"));
  c.milestones = "";
  EXPECT_TRUE(throws_with<ValueError>(check(c), "--milestones is empty"));
  c = {};
  EXPECT_TRUE(throws_with<ValueError>([&] { (void)distill::make_schedule(c, 0, 10); }, "must be >= 1"));
  EXPECT_TRUE(throws_with<ValueError>([&] { (void)distill::make_schedule(c, 3, 0); }, "must be >= 1"));
}

// "naming the value" (recipe.h): the shared message for momentum, weight decay, min lr, warm-up,
// clip norm and step epochs names the fields but not the value found.
TEST(DistillRecipe, RangeErrorNamesTheValue) {
  OptimConfig c;
  c.momentum = -0.5;
  std::string what;
  try {
    c.validate();
  } catch (const ValueError& e) {
    what = e.what();
  }
  ASSERT_FALSE(what.empty());
  EXPECT_NE(what.find("momentum"), std::string::npos) << what;
  EXPECT_NE(what.find("-0.5"), std::string::npos);
}

TEST(DistillRecipe, Describe) {
  OptimConfig c;
  EXPECT_EQ(c.describe(), "sgd(lr=0.05, momentum=0.9, nesterov, wd=0.0005), cosine");
  c.optimizer = "adamw";
  c.lr = 0.001;
  c.weight_decay = 0.05;
  c.schedule = "multistep";
  c.milestones = "5,8";
  c.warmup_epochs = 2;
  c.clip_grad_norm = 1;
  EXPECT_EQ(c.describe(), "adamw(lr=0.001, betas=(0.9, 0.999), wd=0.05), multistep at 5,8, warm-up 2 epochs, clip 1");
  OptimConfig m;
  m.min_lr = 1e-4;
  EXPECT_EQ(m.describe(), "sgd(lr=0.05, momentum=0.9, nesterov, wd=0.0005), cosine to 0.0001");
}

}  // namespace
}  // namespace kdcu
