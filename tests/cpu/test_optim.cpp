// Optimizers and clipping: updates against closed forms and PyTorch 1.13 values, skipping of
// parameters without a gradient, bitwise resume through state_dict (and a safetensors file),
// loss decrease on small problems, the kernels' parallel path, argument errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <memory>

#include "core/factories.h"
#include "core/safetensors.h"
#include "kernels/cpu/optim.h"
#include "kernels/dispatch.h"
#include "nn/clip.h"
#include "nn/optim.h"
#include "ops/linear.h"
#include "ops/loss.h"
#include "tests/support/checks.h"

namespace kdcu {
namespace {

using testing::all_close;
using testing::throws_with;
using MakeOptimizer = std::function<std::unique_ptr<nn::Optimizer>(nn::NamedTensors)>;

Tensor param(const std::vector<double>& values) {
  Tensor p = from_vector<double>(values);
  p.requires_grad_();
  return p;
}

Tensor f64(const std::vector<double>& values) {
  return from_vector<double>(values);
}

void set_grad(Tensor p, const std::vector<double>& g) {
  p.set_grad(from_vector<double>(g));
}

// Steps `opt` three times over one parameter whose gradient is `g` every time.
Tensor three_steps_constant_grad(const MakeOptimizer& make, const std::vector<double>& p0,
                                 const std::vector<double>& g) {
  Tensor p = param(p0);
  auto opt = make({{"p", p}});
  for (int k = 0; k < 3; ++k) {
    set_grad(p, g);
    opt->step();
  }
  return p;
}

const std::vector<double> kP0 = {0.5, -1.0, 2.0};
const std::vector<double> kG = {0.25, -3.0, 1e-3};

TEST(Sgd, ClosedFormsForThreeStepsWithAConstantGradient) {
  const double lr = 0.1, m = 0.9, wd = 0.01, damp = 0.1;
  std::vector<double> plain(3), momentum(3), nesterov(3), dampened(3), decayed(3);
  for (int i = 0; i < 3; ++i) {
    const double p = kP0[i], g = kG[i];
    plain[i] = p - 3 * lr * g;
    momentum[i] = p - lr * g * (3 + 2 * m + m * m);                  // buffers g, (1+m)g, (1+m+m^2)g
    nesterov[i] = p - lr * g * (3 + 3 * m + 2 * m * m + m * m * m);  // steps g(1+m), g(1+m+m^2), ...
    // The first buffer is g itself (no dampening), then b = m b + (1 - damp) g.
    const double b2 = m + (1 - damp), b3 = m * b2 + (1 - damp);
    dampened[i] = p - lr * g * (1 + b2 + b3);
    double q = p;
    for (int k = 0; k < 3; ++k) q = q * (1 - lr * wd) - lr * g;
    decayed[i] = q;
  }
  auto sgd = [&](double mom, double dmp, double decay, bool nest) -> MakeOptimizer {
    return [=](nn::NamedTensors ps) { return std::make_unique<nn::SGD>(ps, lr, mom, dmp, decay, nest); };
  };
  EXPECT_TRUE(all_close(three_steps_constant_grad(sgd(0, 0, 0, false), kP0, kG), f64(plain)));
  EXPECT_TRUE(all_close(three_steps_constant_grad(sgd(m, 0, 0, false), kP0, kG), f64(momentum)));
  EXPECT_TRUE(all_close(three_steps_constant_grad(sgd(m, 0, 0, true), kP0, kG), f64(nesterov)));
  EXPECT_TRUE(all_close(three_steps_constant_grad(sgd(m, damp, 0, false), kP0, kG), f64(dampened)));
  EXPECT_TRUE(all_close(three_steps_constant_grad(sgd(0, 0, wd, false), kP0, kG), f64(decayed)));
}

TEST(Adam, BiasCorrectionMakesEveryStepLrTimesTheGradientSign) {
  // With a constant g, m_t = (1 - b1^t) g and v_t = (1 - b2^t) g^2, so the corrected step is
  // lr g / (|g| + eps) from the very first update, whatever the betas.
  const double lr = 0.01, eps = 1e-8, wd = 0.1;
  std::vector<double> adam(3), adamw(3);
  for (int i = 0; i < 3; ++i) {
    const double step = lr * kG[i] / (std::fabs(kG[i]) + eps);
    adam[i] = kP0[i] - 3 * step;
    double q = kP0[i];
    for (int k = 0; k < 3; ++k) q = q * (1 - lr * wd) - step;  // decoupled decay first
    adamw[i] = q;
  }
  const Tensor a = three_steps_constant_grad(
      [&](nn::NamedTensors ps) { return std::make_unique<nn::Adam>(ps, lr, std::make_pair(0.8, 0.9), eps); }, kP0, kG);
  EXPECT_TRUE(all_close(a, f64(adam)));
  const Tensor w = three_steps_constant_grad(
      [&](nn::NamedTensors ps) { return std::make_unique<nn::AdamW>(ps, lr, std::make_pair(0.8, 0.9), eps, wd); }, kP0,
      kG);
  EXPECT_TRUE(all_close(w, f64(adamw)));
}

// Three steps with the gradient g = p * c + d of the current p (so each step sees a new one).
template <class T>
Tensor three_steps_state_dependent(const MakeOptimizer& make) {
  const std::vector<T> c = {T(1.0), T(2.0), T(-0.5)}, d = {T(0.3), T(-0.2), T(0.1)};
  Tensor p = from_vector<T>({T(0.5), T(-1.0), T(2.0)});
  p.requires_grad_();
  auto opt = make({{"p", p}});
  for (int k = 0; k < 3; ++k) {
    const std::vector<T> v = p.to_vector<T>();
    std::vector<T> g(3);
    for (int i = 0; i < 3; ++i) g[i] = v[i] * c[i] + d[i];
    p.set_grad(from_vector<T>(g));
    opt->step();
  }
  return p;
}

struct TorchCase {
  const char* name;
  MakeOptimizer make;
  std::vector<double> f64, f32;
};

TEST(Optimizers, MatchPyTorch) {
  // From PyTorch 1.13 (Debian's python3-torch): p = [0.5, -1, 2], three times
  // p.grad = p.detach() * [1, 2, -0.5] + [0.3, -0.2, 0.1]; opt.step(), in float64 and float32.
  const std::vector<TorchCase> cases = {
      {"SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)",
       [](nn::NamedTensors ps) { return std::make_unique<nn::SGD>(ps, 0.1, 0.9, 0.0, 0.01, true); },
       {-0.04049798304950003, 0.22226314343900005, 2.769732520392},
       {-0.04049798101186752, 0.2222631424665451, 2.769732713699341}},
      {"SGD(lr=0.1, momentum=0.9, dampening=0.1)",
       [](nn::NamedTensors ps) { return std::make_unique<nn::SGD>(ps, 0.1, 0.9, 0.1); },
       {0.10759199999999994, -0.008591999999999843, 2.4980172499999997},
       {0.10759200155735016, -0.008592009544372559, 2.4980170726776123}},
      {"Adam(lr=0.01, betas=(0.8, 0.9), eps=1e-8, weight_decay=0.1)",
       [](nn::NamedTensors ps) { return std::make_unique<nn::Adam>(ps, 0.01, std::make_pair(0.8, 0.9), 1e-8, 0.1); },
       {0.47001475074806104, -0.9700102075876487, 2.0300059160184203},
       {0.4700147807598114, -0.9700102210044861, 2.030005931854248}},
      {"AdamW(lr=0.01, betas=(0.8, 0.9), eps=1e-8, weight_decay=0.1)",
       [](nn::NamedTensors ps) { return std::make_unique<nn::AdamW>(ps, 0.01, std::make_pair(0.8, 0.9), 1e-8, 0.1); },
       {0.4685464536493611, -0.9670442108920693, 2.023980637112181},
       {0.46854647994041443, -0.9670442938804626, 2.0239806175231934}},
  };
  for (const TorchCase& c : cases) {
    EXPECT_TRUE(all_close(three_steps_state_dependent<double>(c.make), f64(c.f64))) << c.name;
    EXPECT_TRUE(all_close(three_steps_state_dependent<float>(c.make),
                          from_vector<float>({float(c.f32[0]), float(c.f32[1]), float(c.f32[2])})))
        << c.name;
  }
}

TEST(Optimizers, SkipParametersWithoutAGradientAndKeepTheirOwnStepCount) {
  Tensor a = param({1.0, 2.0}), b = param({3.0});
  nn::Adam opt({{"a", a}, {"b", b}}, 0.1);
  for (int k = 0; k < 3; ++k) {
    set_grad(a, {1.0, -1.0});
    opt.step();
  }
  EXPECT_EQ(b.to_vector<double>(), (std::vector<double>{3.0}));  // untouched
  nn::OptimizerState s = opt.state_dict();
  ASSERT_EQ(s.tensors.size(), 3u);  // only a's state exists
  EXPECT_EQ(s.tensors[0].first, "a.step");
  EXPECT_EQ(s.tensors[0].second.item<std::int64_t>(), 3);
  // b's first update is its own step 1: bias correction makes it exactly lr * sign(g).
  opt.zero_grad();
  set_grad(b, {5.0});
  opt.step();
  EXPECT_TRUE(all_close(b, f64({3.0 - 0.1 * 5.0 / (5.0 + 1e-8)})));
  s = opt.state_dict();
  ASSERT_EQ(s.tensors.size(), 6u);
  EXPECT_EQ(s.tensors[3].first, "b.step");
  EXPECT_EQ(s.tensors[3].second.item<std::int64_t>(), 1);
  EXPECT_EQ(s.tensors[0].second.item<std::int64_t>(), 3);  // a had no gradient this time
  EXPECT_EQ(opt.steps(), 4);
}

TEST(Optimizers, StepIsInPlaceRecordsNothingAndZeroGradDrops) {
  Tensor p = param({1.0, 2.0});
  const void* storage = p.raw_data();
  nn::SGD opt({{"p", p}}, 0.5, 0.9);
  set_grad(p, {1.0, 1.0});
  opt.step();
  EXPECT_EQ(p.raw_data(), storage);
  EXPECT_TRUE(p.is_leaf());
  EXPECT_TRUE(p.requires_grad());
  EXPECT_EQ(p.to_vector<double>(), (std::vector<double>{0.5, 1.5}));
  EXPECT_EQ(opt.parameters()[0].second.raw_data(), storage);
  opt.zero_grad();
  EXPECT_FALSE(p.grad().defined());
  opt.step();  // nothing has a gradient: nothing changes
  EXPECT_EQ(p.to_vector<double>(), (std::vector<double>{0.5, 1.5}));
}

// y = x W^T + b, with PyTorch's parameter names.
class Affine : public nn::Module {
 public:
  Affine(std::int64_t in, std::int64_t out, DType dtype, std::uint64_t seed) : nn::Module("Affine") {
    Generator gen(seed);
    weight = register_parameter("weight", randn({out, in}, gen, dtype, Device::cpu(), 0.0, 0.1));
    bias = register_parameter("bias", zeros({out}, dtype));
  }
  Tensor forward(const Tensor& x) override { return ops::linear(x, weight, bias); }
  Tensor weight, bias;
};

struct Problem {
  Tensor x, y;
};

// Least squares: y = x w^T + 0.3 for a random w, 64 rows of 5 features.
Problem least_squares(DType dtype) {
  Generator gen(7);
  const Tensor x = randn({64, 5}, gen, dtype);
  const Tensor w = randn({1, 5}, gen, dtype);
  return {x, ops::linear(x, w, full({1}, 0.3, dtype))};
}

double train(nn::Module& model, nn::Optimizer& opt, const Problem& data, int steps) {
  double loss = 0.0;
  for (int k = 0; k < steps; ++k) {
    opt.zero_grad();
    const Tensor l = ops::mse_loss(model(data.x), data.y);
    loss = l.item<double>();
    l.backward();
    opt.step();
  }
  return loss;
}

std::string temp_path(const char* name) {
  return ::testing::TempDir() + "kdcu_optim_" + std::to_string(::getpid()) + "_" + name + ".safetensors";
}

TEST(Optimizers, ResumeFromStateDictIsBitwiseIdentical) {
  const Problem data = least_squares(DType::F32);
  const std::vector<std::pair<const char*, MakeOptimizer>> makers = {
      {"SGD", [](nn::NamedTensors ps) { return std::make_unique<nn::SGD>(ps, 0.05, 0.9, 0.0, 1e-3, true); }},
      {"Adam", [](nn::NamedTensors ps) { return std::make_unique<nn::Adam>(ps, 0.01, std::make_pair(0.9, 0.99)); }},
      {"AdamW", [](nn::NamedTensors ps) { return std::make_unique<nn::AdamW>(ps, 0.01); }},
  };
  for (const auto& [name, make] : makers) {
    Affine straight(5, 1, DType::F32, 3);
    auto opt = make(straight.named_parameters());
    train(straight, *opt, data, 5);

    Affine first(5, 1, DType::F32, 3);
    auto opt1 = make(first.named_parameters());
    train(first, *opt1, data, 2);
    const std::string path = temp_path(name);
    save_safetensors(path, first.state_dict());
    const nn::OptimizerState saved = opt1->state_dict();
    save_safetensors(path + ".opt", saved.tensors, saved.metadata);

    Affine resumed(5, 1, DType::F32, 99);  // other weights until loaded
    resumed.load_state_dict(load_safetensors(path).tensors);
    auto opt2 = make(resumed.named_parameters());
    opt2->set_lr(123.0);  // the loaded state brings its own lr back
    const SafetensorsFile file = load_safetensors(path + ".opt");
    opt2->load_state_dict({file.tensors, file.metadata});
    EXPECT_EQ(opt2->steps(), 2) << name;
    EXPECT_EQ(opt2->lr(), opt1->lr()) << name;
    train(resumed, *opt2, data, 3);
    std::remove(path.c_str());
    std::remove((path + ".opt").c_str());

    EXPECT_EQ(resumed.weight.to_vector<float>(), straight.weight.to_vector<float>()) << name;
    EXPECT_EQ(resumed.bias.to_vector<float>(), straight.bias.to_vector<float>()) << name;
    EXPECT_EQ(opt2->steps(), 5) << name;
    // A fresh optimizer without the state would have gone elsewhere (so the check can fail).
    Affine fresh(5, 1, DType::F32, 3);
    auto opt3 = make(fresh.named_parameters());
    train(fresh, *opt3, data, 2);
    auto opt4 = make(fresh.named_parameters());
    train(fresh, *opt4, data, 3);
    EXPECT_NE(fresh.weight.to_vector<float>(), straight.weight.to_vector<float>()) << name;
  }
}

TEST(Optimizers, StateDictNamesAndMetadata) {
  Affine model(2, 1, DType::F64, 1);
  nn::SGD sgd(model.named_parameters(), 0.1, 0.9, 0.0, 0.0, true);
  train(model, sgd, Problem{ones({4, 2}, DType::F64), zeros({4, 1}, DType::F64)}, 1);
  const nn::OptimizerState s = sgd.state_dict();
  ASSERT_EQ(s.tensors.size(), 2u);
  EXPECT_EQ(s.tensors[0].first, "weight.momentum_buffer");
  EXPECT_EQ(s.tensors[1].first, "bias.momentum_buffer");
  EXPECT_NE(s.tensors[0].second.raw_data(), sgd.parameters()[0].second.raw_data());
  const std::map<std::string, std::string> expected = {{"optimizer", "SGD"}, {"steps", "1"},     {"lr", "0.1"},
                                                       {"momentum", "0.9"},  {"dampening", "0"}, {"weight_decay", "0"},
                                                       {"nesterov", "true"}};
  EXPECT_EQ(s.metadata, expected);
  // Doubles are written exactly, so that a resumed run uses the very same numbers.
  nn::Adam adam(model.named_parameters(), 0.1 / 3.0, std::make_pair(0.9, 0.999), 1e-8);
  EXPECT_EQ(std::stod(adam.state_dict().metadata.at("lr")), 0.1 / 3.0);
  EXPECT_EQ(adam.state_dict().metadata.at("eps"), "1e-08");
  EXPECT_TRUE(adam.state_dict().tensors.empty());  // no update yet, no state
}

TEST(Optimizers, LoadStateDictRejectsWhatDoesNotMatchAndChangesNothing) {
  Tensor w = param({1.0, 2.0}), b = param({0.5});
  nn::SGD opt({{"w", w}, {"b", b}}, 0.1, 0.9);
  set_grad(w, {1.0, 1.0});
  set_grad(b, {1.0});
  opt.step();
  const nn::OptimizerState good = opt.state_dict();

  nn::SGD other({{"w", w}, {"b", b}}, 0.2, 0.5);
  nn::OptimizerState s = good;
  s.tensors.pop_back();      // b without state is legal: as if it had never been updated
  other.load_state_dict(s);  // (and brings momentum 0.9, lr 0.1, steps 1)
  EXPECT_EQ(other.momentum(), 0.9);
  other.set_lr(0.7);

  auto load = [&](const nn::OptimizerState& bad) { return [&other, bad] { other.load_state_dict(bad); }; };
  s = good;
  s.metadata["optimizer"] = "Adam";
  EXPECT_TRUE(throws_with<ValueError>(load(s), "SGD load_state_dict: the state is of a 'Adam' optimizer"));
  s = good;
  s.tensors.emplace_back("c.momentum_buffer", zeros({1}, DType::F64));
  EXPECT_TRUE(throws_with<ValueError>(load(s), "unexpected (1): c.momentum_buffer"));
  s = good;
  s.tensors[0].second = zeros({3}, DType::F64);
  EXPECT_TRUE(throws_with<ValueError>(load(s), "wrong shape (1): w.momentum_buffer: expected [2], found [3]"));
  s = good;
  s.metadata.erase("dampening");
  EXPECT_TRUE(throws_with<ValueError>(load(s), "metadata lacks 'dampening'"));
  s = good;
  s.metadata["momentum"] = "0.9x";
  EXPECT_TRUE(throws_with<ValueError>(load(s), "'momentum' is '0.9x', expected a number"));
  s = good;
  s.metadata["momentum"] = "-1";
  EXPECT_TRUE(throws_with<ValueError>(load(s), "invalid momentum -1"));
  s = good;
  s.metadata["steps"] = "two";
  EXPECT_TRUE(throws_with<ValueError>(load(s), "'steps' is 'two'"));
  // With momentum 0 in the file there is no buffer to load: both are unexpected, and the
  // momentum switched for the check is switched back.
  s = good;
  s.metadata["momentum"] = "0";
  EXPECT_TRUE(throws_with<ValueError>(load(s), "unexpected (2): b.momentum_buffer, w.momentum_buffer"));
  EXPECT_EQ(other.momentum(), 0.9);
  EXPECT_EQ(other.lr(), 0.7);
  EXPECT_EQ(other.steps(), 1);

  // A parameter with only part of its state.
  nn::Adam adam({{"w", w}}, 0.1);
  set_grad(w, {1.0, 1.0});
  adam.step();
  s = adam.state_dict();
  s.tensors.erase(s.tensors.begin() + 1);
  EXPECT_TRUE(throws_with<ValueError>([&] { adam.load_state_dict(s); },
                                      "Adam load_state_dict: the state does not "
                                      "match its parameters; missing (1): w.exp_avg"));
}

TEST(Optimizers, EveryOptimizerFitsALeastSquaresProblem) {
  const Problem data = least_squares(DType::F32);
  const std::vector<std::pair<const char*, MakeOptimizer>> makers = {
      {"SGD", [](nn::NamedTensors ps) { return std::make_unique<nn::SGD>(ps, 0.1); }},
      {"SGD+momentum", [](nn::NamedTensors ps) { return std::make_unique<nn::SGD>(ps, 0.05, 0.9); }},
      {"Adam", [](nn::NamedTensors ps) { return std::make_unique<nn::Adam>(ps, 0.1); }},
      {"AdamW", [](nn::NamedTensors ps) { return std::make_unique<nn::AdamW>(ps, 0.1); }},
  };
  for (const auto& [name, make] : makers) {
    Affine model(5, 1, DType::F32, 11);
    auto opt = make(model.named_parameters());
    const double before = train(model, *opt, data, 1);
    const double after = train(model, *opt, data, 60);
    EXPECT_LT(after, 1e-2 * before) << name << ": " << before << " -> " << after;
  }
}

TEST(Optimizers, EveryOptimizerFitsALogisticRegression) {
  // Two Gaussian blobs around (+1, +1) and (-1, -1); labels 0 and 1.
  Generator gen(5);
  const Tensor noise = randn({64, 2}, gen, DType::F32, Device::cpu(), 0.0, 0.3);
  std::vector<float> x = noise.to_vector<float>();
  std::vector<std::int64_t> labels(64);
  for (int i = 0; i < 64; ++i) {
    labels[i] = i % 2;
    x[2 * i] += i % 2 ? -1.0f : 1.0f;
    x[2 * i + 1] += i % 2 ? -1.0f : 1.0f;
  }
  const Tensor inputs = from_vector<float>(x, {64, 2});
  const Tensor targets = from_vector<std::int64_t>(labels);
  const std::vector<std::pair<const char*, MakeOptimizer>> makers = {
      {"SGD+momentum", [](nn::NamedTensors ps) { return std::make_unique<nn::SGD>(ps, 0.2, 0.9); }},
      {"Adam", [](nn::NamedTensors ps) { return std::make_unique<nn::Adam>(ps, 0.1); }},
      {"AdamW", [](nn::NamedTensors ps) { return std::make_unique<nn::AdamW>(ps, 0.1); }},
  };
  for (const auto& [name, make] : makers) {
    Affine model(2, 2, DType::F32, 2);
    auto opt = make(model.named_parameters());
    double first = 0.0, last = 0.0;
    for (int k = 0; k < 40; ++k) {
      opt->zero_grad();
      const Tensor loss = ops::cross_entropy(model(inputs), targets);
      (k == 0 ? first : last) = loss.item<double>();
      loss.backward();
      opt->step();
    }
    EXPECT_LT(last, 0.1 * first) << name << ": " << first << " -> " << last;
  }
}

TEST(OptimizerKernels, ParallelPathEqualsSmallSerialSlices) {
  // Above kParallelGrain the loops split across threads; each element must still get exactly the
  // update a small (serial) call gives it.
  const std::int64_t n = 3 * kernels::kParallelGrain + 7, slice = 1000;
  Generator gen(3);
  const std::vector<float> p0 = randn({n}, gen).to_vector<float>(), g = randn({n}, gen).to_vector<float>();
  const std::vector<float> m0 = randn({n}, gen).to_vector<float>();
  const std::vector<float> v0 = rand({n}, gen).to_vector<float>();
  auto check = [&](const char* what, auto&& kernel) {
    std::vector<float> p = p0, m = m0, v = v0, ps = p0, ms = m0, vs = v0;
    kernel(p.data(), g.data(), m.data(), v.data(), n);
    for (std::int64_t i = 0; i < n; i += slice) {
      const std::int64_t len = std::min(slice, n - i);
      kernel(ps.data() + i, g.data() + i, ms.data() + i, vs.data() + i, len);
    }
    EXPECT_EQ(p, ps) << what;
    EXPECT_EQ(m, ms) << what;
    EXPECT_EQ(v, vs) << what;
    EXPECT_NE(p, p0) << what;
  };
  check("sgd", [](float* p, const float* dp, float* m, float*, std::int64_t len) {
    kernels::cpu::sgd_step<float>(p, dp, m, len, 0.1, 0.9, 0.1, 0.01, false, false);
  });
  check("adamw", [](float* p, const float* dp, float* m, float* v, std::int64_t len) {
    kernels::cpu::adam_step<float>(p, dp, m, v, len, 0.01, 0.9, 0.999, 1e-8, 0.01, true, 4);
  });
  std::vector<float> nan_at_end = g;
  nan_at_end[n - 1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(kernels::cpu::abs_max<float>(nan_at_end.data(), n)));
  double expected_max = 0.0, expected_sq = 0.0;
  for (float x : g) expected_max = std::max(expected_max, std::fabs(double(x))), expected_sq += double(x) * x;
  EXPECT_EQ(kernels::cpu::abs_max<float>(g.data(), n), expected_max);
  EXPECT_NEAR(kernels::cpu::abs_pow_sum<float>(g.data(), n, 2.0), expected_sq, 1e-9 * expected_sq);
}

TEST(Optimizers, InvalidArgumentsNameTheValue) {
  Tensor p = param({1.0});
  const nn::NamedTensors ps = {{"p", p}};
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::SGD(ps, -0.1); }, "SGD: invalid learning rate -0.1"));
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::SGD(ps, 0.1, -0.5); }, "invalid momentum -0.5"));
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::SGD(ps, 0.1, 0.9, 0.0, -1e-4); }, "invalid weight_decay -0.0001"));
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::SGD(ps, 0.1, 0.0, 0.0, 0.0, true); },
                                      "invalid momentum 0 (expected > 0 with nesterov)"));
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::SGD(ps, 0.1, 0.9, 0.5, 0.0, true); },
                                      "invalid dampening 0.5 (expected 0 with nesterov)"));
  EXPECT_TRUE(throws_with<ValueError>(
      [&] {
        nn::Adam(ps, 1e-3, {1.0, 0.999});
      },
      "Adam: invalid beta1 1 (expected in [0, 1))"));
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::Adam(ps, 1e-3, {0.9, -0.1}); }, "invalid beta2 -0.1"));
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::Adam(ps, 1e-3, {0.9, 0.999}, -1e-8); }, "invalid eps -1e-08"));
  EXPECT_TRUE(throws_with<ValueError>(
      [&] {
        nn::AdamW(ps, 1e-3, {0.9, 0.999}, 1e-8, -0.01);
      },
      "AdamW: invalid weight_decay -0.01"));
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::Adam(ps, std::nan("")); }, "invalid learning rate nan"));
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::Adam({}); }, "empty parameter list"));
  EXPECT_TRUE(throws_with<ValueError>(
      [&] {
        nn::Adam({{"p", p}, {"p", param({2.0})}});
      },
      "two parameters are named 'p'"));
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::Adam({{"p", p}, {"q", p}}); }, "'q' is a tensor already in the list"));
  EXPECT_TRUE(throws_with<DTypeError>([&] { nn::SGD({{"i", zeros({2}, DType::I64)}}, 0.1); }, "'i' is i64"));
  nn::SGD opt(ps, 0.1);
  EXPECT_TRUE(throws_with<ValueError>([&] { opt.set_lr(-1.0); }, "invalid learning rate -1"));
  EXPECT_EQ(opt.lr(), 0.1);
}

// --- clip_grad_norm ---

struct ClipSetup {
  Tensor a = param({0.0, 0.0}), b = param({0.0, 0.0, 0.0, 0.0});
  ClipSetup() {
    set_grad(a, {3.0, -4.0});
    set_grad(b, {1.0, 2.0, -2.0, 0.5});
  }
};

TEST(ClipGradNorm, MatchesPyTorch) {
  // torch.nn.utils.clip_grad_norm_([a, b], max_norm=2.0, norm_type) in PyTorch 1.13, float64,
  // a.grad = [3, -4], b.grad = [[1, 2], [-2, 0.5]]: the returned total, then the clipped grads.
  struct Case {
    double norm_type, total;
    std::vector<double> a, b;
  };
  const std::vector<Case> cases = {
      {2.0,
       5.852349955359813,
       {1.0252290140776612, -1.366972018770215},
       {0.34174300469255375, 0.6834860093851075, -0.6834860093851075, 0.17087150234627688}},
      {1.0,
       12.5,
       {0.4799999616000031, -0.6399999488000041},
       {0.15999998720000103, 0.31999997440000205, -0.31999997440000205, 0.07999999360000051}},
      {3.0,
       4.7640397172728965,
       {1.2594350796049891, -1.679246772806652},
       {0.419811693201663, 0.839623386403326, -0.839623386403326, 0.2099058466008315}},
      {nn::kInfNorm,
       4.0,
       {1.4999996250000938, -1.999999500000125},
       {0.49999987500003124, 0.9999997500000625, -0.9999997500000625, 0.24999993750001562}},
  };
  for (const Case& c : cases) {
    ClipSetup s;
    const double total = nn::clip_grad_norm(std::vector<Tensor>{s.a, s.b}, 2.0, c.norm_type);
    EXPECT_TRUE(all_close(f64({total}), f64({c.total}))) << c.norm_type;
    EXPECT_TRUE(all_close(s.a.grad(), f64(c.a))) << c.norm_type;
    EXPECT_TRUE(all_close(s.b.grad(), f64(c.b))) << c.norm_type;
    // The clipped gradients now have the norm max_norm (less the 1e-6 guard).
    EXPECT_NEAR(nn::grad_norm({s.a, s.b}, c.norm_type), 2.0, 1e-6) << c.norm_type;
  }
}

TEST(ClipGradNorm, BelowTheLimitNothingChangesAndGradlessParametersAreSkipped) {
  ClipSetup s;
  Tensor none = param({100.0});
  EXPECT_DOUBLE_EQ(nn::clip_grad_norm(nn::NamedTensors{{"a", s.a}, {"b", s.b}, {"none", none}}, 10.0),
                   std::sqrt(34.25));
  EXPECT_EQ(s.a.grad().to_vector<double>(), (std::vector<double>{3.0, -4.0}));
  EXPECT_FALSE(none.grad().defined());
  EXPECT_EQ(nn::clip_grad_norm(std::vector<Tensor>{none}, 1.0), 0.0);
  // An infinite max_norm only measures.
  EXPECT_DOUBLE_EQ(nn::clip_grad_norm(std::vector<Tensor>{s.a}, nn::kInfNorm), 5.0);
  EXPECT_EQ(s.a.grad().to_vector<double>(), (std::vector<double>{3.0, -4.0}));
}

TEST(ClipGradNorm, ANonFiniteTotalIsReturnedAndTheGradientsAreLeftAlone) {
  for (double bad : {std::numeric_limits<double>::infinity(), std::nan("")}) {
    ClipSetup s;
    set_grad(s.b, {1.0, bad, 2.0, 3.0});
    for (double norm_type : {2.0, 1.0, nn::kInfNorm}) {
      const double total = nn::clip_grad_norm(std::vector<Tensor>{s.a, s.b}, 1.0, norm_type);
      EXPECT_FALSE(std::isfinite(total)) << bad << " " << norm_type;
      EXPECT_EQ(std::isnan(total), std::isnan(bad)) << bad << " " << norm_type;
      EXPECT_EQ(s.a.grad().to_vector<double>(), (std::vector<double>{3.0, -4.0}));
    }
  }
}

TEST(ClipGradNorm, InvalidArgumentsNameTheValue) {
  ClipSetup s;
  const std::vector<Tensor> ps = {s.a, s.b};
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::clip_grad_norm(ps, 0.0); }, "invalid max_norm 0"));
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::clip_grad_norm(ps, -1.0); }, "invalid max_norm -1"));
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::clip_grad_norm(ps, 1.0, 0.0); }, "invalid norm_type 0"));
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::clip_grad_norm(ps, 1.0, -2.0); }, "invalid norm_type -2"));
  EXPECT_TRUE(throws_with<ValueError>([&] { nn::grad_norm(ps, std::nan("")); }, "invalid norm_type nan"));
  EXPECT_EQ(s.a.grad().to_vector<double>(), (std::vector<double>{3.0, -4.0}));
}

}  // namespace
}  // namespace kdcu
