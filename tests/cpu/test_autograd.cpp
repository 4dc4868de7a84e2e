// The autograd engine: accumulation, graph freeing, no-grad, errors, memory over many steps.
#include <gtest/gtest.h>

#include "core/autograd.h"
#include "core/factories.h"
#include "ops/elementwise.h"
#include "tests/support/checks.h"

namespace kdcu {
namespace {

Tensor param(std::vector<double> v, Shape s = {}) {
  Tensor t = from_vector<double>(v, s);
  t.requires_grad_();
  return t;
}

TEST(Autograd, ChainRuleThroughSharedInput) {
  // y = x * x + 3 x, dy/dx = 2x + 3 (x is used three times: contributions sum)
  Tensor x = param({1.0, -2.0, 0.5});
  const Tensor y = x * x + 3.0 * x;
  y.backward(ones_like(y));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{5.0, -1.0, 4.0}));
}

TEST(Autograd, BackwardAccumulatesIntoPrefilledGradient) {
  Tensor x = param({1.0, 2.0});
  x.set_grad(from_vector<double>({10.0, 20.0}));
  (x * 2.0).backward(ones({2}, DType::F64));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{12.0, 22.0}));
  (x * x).backward(ones({2}, DType::F64));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{14.0, 26.0}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, GradientOfALeafIsNotAliasedWithAnotherLeaf) {
  // add's backward hands the same tensor to both inputs; each leaf must own its .grad.
  Tensor a = param({1.0}), b = param({2.0});
  (a + b).backward(ones({1}, DType::F64));
  a.grad().data<double>()[0] = 100.0;
  EXPECT_EQ(b.grad().item<double>(), 1.0);
}

TEST(Autograd, BroadcastGradientsSumToOperandShape) {
  Tensor x = param({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = param({10, 20, 30}, {3});
  (x * b).backward(ones({2, 3}, DType::F64));
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{5.0, 7.0, 9.0}));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{10, 20, 30, 10, 20, 30}));
}

TEST(Autograd, NoGradRecordsNothing) {
  Tensor x = param({1.0, 2.0});
  {
    autograd::NoGradGuard guard;
    const Tensor y = x * x;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
    EXPECT_FALSE(autograd::grad_enabled());
  }
  EXPECT_TRUE(autograd::grad_enabled());
  EXPECT_TRUE((x * x).requires_grad());
}

TEST(Autograd, DetachCutsTheGraph) {
  Tensor x = param({3.0});
  const Tensor y = (x * x).detach() * x;  // d/dx = x^2 (the detached factor is a constant)
  y.backward();
  EXPECT_EQ(x.grad().item<double>(), 9.0);
}

TEST(Autograd, SecondBackwardIsAClearError) {
  Tensor x = param({1.0});
  const Tensor y = x * x;
  y.backward();
  try {
    y.backward();
    FAIL() << "expected AutogradError";
  } catch (const AutogradError& e) {
    EXPECT_NE(std::string(e.what()).find("a second time"), std::string::npos) << e.what();
  }
}

TEST(Autograd, MisuseIsReported) {
  Tensor x = param({1.0, 2.0});
  EXPECT_THROW((x * x).backward(), AutogradError);     // non-scalar without gradient
  EXPECT_THROW(zeros({1}).backward(), AutogradError);  // nothing requires grad
  Tensor y = x * x;
  EXPECT_THROW(y.requires_grad_(), AutogradError);                    // not a leaf
  EXPECT_THROW(arange(3).requires_grad_(), DTypeError);               // integer
  EXPECT_THROW((x * x).backward(ones({3}, DType::F64)), ShapeError);  // gradient of the wrong shape
}

TEST(Autograd, GraphAndSavedTensorsAreFreedAfterBackward) {
  Tensor x = param(std::vector<double>(1000, 1.5));
  std::weak_ptr<Node> node;
  const long long before = host_live_bytes();
  {
    const Tensor y = (x * x) * x;  // saves inputs for backward
    node = y.grad_fn();
    y.backward(ones_like(y));
    // The grad of x stays; everything the graph saved is gone although y is still alive.
    EXPECT_EQ(host_live_bytes() - before, 8000 /* x.grad */ + 8000 /* y */);
  }
  EXPECT_TRUE(node.expired());
}

TEST(Autograd, ThousandStepsDoNotGrowMemory) {
  Generator gen(3);
  Tensor w = randn({64, 32}, gen, DType::F32);
  w.requires_grad_();
  const Tensor x = randn({64, 32}, gen, DType::F32);
  long long after_warmup = 0, at_end = 0;
  for (int step = 0; step < 1000; ++step) {
    const Tensor y = ops::sigmoid(w * x + 1.0) * ops::tanh(x);
    y.backward(ones_like(y));
    w.data<float>()[0] -= 0.01f * w.grad().data<float>()[0];
    w.zero_grad();
    if (step == 9) after_warmup = host_live_bytes();
    if (step == 999) at_end = host_live_bytes();
  }
  EXPECT_EQ(at_end, after_warmup);
  EXPECT_EQ(after_warmup, 3 * 64 * 32 * 4) << "w, x and the live output y only";
}

TEST(Autograd, VeryLongChainsNeitherOverflowTheStackNorLeak) {
  Tensor x = param({1.0});
  const long long before = host_live_bytes();
  {
    Tensor y = x;
    for (int i = 0; i < 200000; ++i) y = y * 1.0;
    // dropped without backward: the destructor must release 200k nodes iteratively
  }
  EXPECT_EQ(host_live_bytes(), before);
  Tensor y = x;
  for (int i = 0; i < 200000; ++i) y = y + 0.0;
  y.backward();
  EXPECT_EQ(x.grad().item<double>(), 1.0);
}

}  // namespace
}  // namespace kdcu
