// The fused KD path (one kernel call for the loss and the student's gradient) against the
// separate forward / backward it replaced, which a teacher that requires grad still takes: values
// and d(student) for awkward class counts, every scalar reduction and T in {0.5, 1, 4, 20}, under
// each kind of upstream gradient (backward()'s seed, a known weight, a sum of weights, an explicit
// tensor). Also the known-uniform gradient the engine tracks, kd_hard_loss_parts, and the
// independence of the results from the thread count.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/factories.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "tests/support/checks.h"
#include "tests/support/gradcheck.h"

namespace kdcu {
namespace {

using ops::Reduction;
using testing::random;

const std::vector<std::int64_t> kClasses = {1, 2, 10, 31, 33, 100, 1000};
const std::vector<double> kTemperatures = {0.5, 1.0, 4.0, 20.0};

// The ways a scalar loss receives its upstream gradient.
enum class Upstream { Seed, Weight, SumOfWeights, Explicit };
const Upstream kUpstreams[] = {Upstream::Seed, Upstream::Weight, Upstream::SumOfWeights, Upstream::Explicit};
const char* name(Upstream u) {
  switch (u) {
    case Upstream::Seed:
      return "seed";
    case Upstream::Weight:
      return "weight";
    case Upstream::SumOfWeights:
      return "sum of weights";
    case Upstream::Explicit:
      return "explicit";
  }
  return "?";
}

void backward(const Tensor& loss, Upstream u) {
  switch (u) {
    case Upstream::Seed:
      loss.backward();
      break;
    case Upstream::Weight:
      (loss * 0.37).backward();
      break;
    case Upstream::SumOfWeights:  // 0.25 + 0.75 = 1: the engine adds the two known weights
      (loss * 0.25 + loss * 0.75).backward();
      break;
    case Upstream::Explicit:
      loss.backward(scalar(-1.7, loss.dtype()));
      break;
  }
}

Tensor fresh_leaf(const Tensor& x) {
  Tensor l = x.detach().clone();
  l.requires_grad_();
  return l;
}

TEST(KdFused, KdKlDivMatchesTheUnfusedPathForEveryUpstream) {
  std::uint64_t seed = 100;
  for (DType d : {DType::F64, DType::F32}) {
    const testing::Tolerance tol = testing::tolerance_for(d, d == DType::F32 ? 10.0 : 1.0);
    for (size_t i = 0; i < kClasses.size(); ++i) {
      const std::int64_t B = 1 + 2 * static_cast<std::int64_t>(i), C = kClasses[i];
      const Tensor s = random({B, C}, ++seed, false, -4.0, 4.0).to(d), t = random({B, C}, ++seed, false, -4.0, 4.0).to(d);
      for (double T : kTemperatures) {
        for (Reduction r : {Reduction::BatchMean, Reduction::Sum, Reduction::Mean}) {
          for (Upstream u : kUpstreams) {
            const std::string what = std::string(dtype_name(d)) + " B " + std::to_string(B) + " C " +
                                     std::to_string(C) + " T " + std::to_string(T) + " " + ops::reduction_name(r) +
                                     " " + name(u);
            // Fused: the teacher needs no gradient. Unfused: it does (and its gradient is ignored).
            const Tensor sf = fresh_leaf(s), sc = fresh_leaf(s), tc = fresh_leaf(t);
            const Tensor lf = ops::kd_kl_div(sf, t, T, r), lc = ops::kd_kl_div(sc, tc, T, r);
            EXPECT_TRUE(testing::all_close(lf, lc, tol)) << what << " loss";
            backward(lf, u);
            backward(lc, u);
            EXPECT_TRUE(testing::all_close(sf.grad(), sc.grad(), tol)) << what << " d(student)";
          }
        }
      }
    }
  }
}

TEST(KdFused, KdHardLossMatchesTheComposedLossForEveryUpstream) {
  std::uint64_t seed = 200;
  for (size_t i = 0; i < kClasses.size(); ++i) {
    const std::int64_t B = 2 + static_cast<std::int64_t>(i), C = kClasses[i];
    const Tensor s = random({B, C}, ++seed, false, -4.0, 4.0).to(DType::F64);
    const Tensor t = random({B, C}, ++seed, false, -4.0, 4.0).to(DType::F64);
    std::vector<std::int64_t> y;
    for (std::int64_t b = 0; b < B; ++b) y.push_back((b * 7 + 3) % C);
    const Tensor labels = from_vector<std::int64_t>(y);
    for (double T : kTemperatures) {
      for (double alpha : {0.0, 0.4, 1.0}) {
        for (Upstream u : kUpstreams) {
          const std::string what = "C " + std::to_string(C) + " T " + std::to_string(T) + " alpha " +
                                   std::to_string(alpha) + " " + name(u);
          const Tensor sf = fresh_leaf(s), sc = fresh_leaf(s);
          const Tensor lf = ops::kd_hard_loss(sf, t, labels, T, alpha);
          const Tensor lc = ops::kd_kl_div(sc, t, T) * alpha + ops::cross_entropy(sc, labels) * (1.0 - alpha);
          EXPECT_TRUE(testing::all_close(lf, lc)) << what << " loss";
          backward(lf, u);
          backward(lc, u);
          EXPECT_TRUE(testing::all_close(sf.grad(), sc.grad())) << what << " d(student)";
        }
      }
    }
  }
}

TEST(KdFused, PartsAreTheKdAndCrossEntropyValues) {
  const Tensor s = testing::leaf({6, 11}, 301, -3.0, 3.0), t = random({6, 11}, 302, false, -3.0, 3.0);
  const Tensor labels = from_vector<std::int64_t>({0, 10, 5, 5, 2, 7});
  for (DType d : {DType::F64, DType::F32}) {
    const Tensor sd = fresh_leaf(s.detach().to(d)), td = t.to(d);
    const ops::KdHardParts p = ops::kd_hard_loss_parts(sd, td, labels, 4.0, 0.6);
    const testing::Tolerance tol = testing::tolerance_for(d);
    EXPECT_TRUE(testing::all_close(p.kd, ops::kd_kl_div(sd.detach(), td, 4.0), tol)) << dtype_name(d);
    EXPECT_TRUE(testing::all_close(p.ce, ops::cross_entropy(sd.detach(), labels), tol)) << dtype_name(d);
    EXPECT_TRUE(testing::all_close(p.total, ops::kd_hard_loss(sd.detach(), td, labels, 4.0, 0.6), tol));
    EXPECT_TRUE(testing::all_close(p.total, p.kd * 0.6 + p.ce * 0.4, tol)) << dtype_name(d);
    EXPECT_TRUE(p.total.requires_grad()) << "the total is in the graph";
    EXPECT_FALSE(p.kd.requires_grad() || p.ce.requires_grad()) << "the parts are for logging";
    p.total.backward();
    const Tensor sc = fresh_leaf(s.detach().to(d));
    ops::kd_hard_loss(sc, td, labels, 4.0, 0.6, Reduction::None).backward(full({6}, 1.0 / 6.0, d));
    EXPECT_TRUE(testing::all_close(sd.grad(), sc.grad(), tol)) << dtype_name(d) << " d(student)";
  }
  EXPECT_TRUE(testing::throws_with<ValueError>(
      [&] { ops::kd_hard_loss_parts(s, t, from_vector<std::int64_t>({0, 11, 0, 0, 0, 0}), 4.0, 0.6); },
      "kd_hard_loss: label 11 in row 1 is out of range for 11 classes"));
}

TEST(KdFused, NoGradStillGivesTheLossAndAnEmptyBatchIsNaN) {
  const Tensor s = random({5, 9}, 401, false, -3.0, 3.0), t = random({5, 9}, 402, false, -3.0, 3.0);
  const Tensor with_graph = ops::kd_kl_div(fresh_leaf(s), t, 2.0);
  {
    autograd::NoGradGuard guard;
    EXPECT_TRUE(testing::all_close(ops::kd_kl_div(fresh_leaf(s), t, 2.0), with_graph.detach()));
  }
  const Tensor empty_s = zeros({0, 9}), empty_t = zeros({0, 9});
  EXPECT_TRUE(std::isnan(ops::kd_kl_div(empty_s, empty_t, 2.0).item<double>())) << "batchmean of no rows, as PyTorch";
  EXPECT_EQ(ops::kd_kl_div(empty_s, empty_t, 2.0, Reduction::Sum).item<double>(), 0.0);
}

TEST(KdFused, ResultsDoNotDependOnTheThreadCount) {
  const Tensor s = random({300, 100}, 501, false, -3.0, 3.0), t = random({300, 100}, 502, false, -3.0, 3.0);
  const Tensor labels = from_vector<std::int64_t>(std::vector<std::int64_t>(300, 42));
  const auto run = [&](int threads, Tensor* grad) {
    const int before = omp_get_max_threads();
    omp_set_num_threads(threads);
    const Tensor sl = fresh_leaf(s);
    const Tensor loss = ops::kd_hard_loss(sl, t, labels, 4.0, 0.9);
    loss.backward();
    omp_set_num_threads(before);
    *grad = sl.grad();
    return loss;
  };
  Tensor g1, g2;
  const Tensor l1 = run(1, &g1), l2 = run(2, &g2);
  EXPECT_EQ(l1.item<double>(), l2.item<double>());
  EXPECT_EQ(testing::bytes_of(g1), testing::bytes_of(g2)) << "bitwise equal gradients";
}

// ----------------------------------------------------------------------------- known-uniform gradients

// A node that passes its gradient through and notes what autograd::uniform_value said of it.
Tensor probe(const Tensor& x, std::optional<double>* seen, bool* ran) {
  Tensor y = x.detach().clone();
  autograd::record(y, "probe", {x}, [seen, ran](const Tensor& g, const std::vector<bool>&) -> Grads {
    *seen = autograd::uniform_value(g);
    *ran = true;
    return {g};
  });
  return y;
}

TEST(UniformGradient, SeedWeightsAndSumsAreKnownExplicitGradientsAreNot) {
  struct Case {
    const char* what;
    std::optional<double> expected;
    void (*run)(const Tensor& y);
  };
  const Case cases[] = {
      {"backward()", 1.0, [](const Tensor& y) { y.backward(); }},
      {"weight", 3.0, [](const Tensor& y) { (y * 3.0).backward(); }},
      {"affine", -2.0, [](const Tensor& y) { (y * -2.0 + 5.0).backward(); }},
      {"sum of weights", 5.0, [](const Tensor& y) { (y * 3.0 + y * 2.0).backward(); }},
      {"explicit gradient", std::nullopt, [](const Tensor& y) { y.backward(scalar(1.0, DType::F64)); }},
      {"through a tensor product", std::nullopt, [](const Tensor& y) { (y * scalar(2.0, DType::F64)).backward(); }},
  };
  for (const Case& c : cases) {
    Tensor x = scalar(0.5, DType::F64);
    x.requires_grad_();
    std::optional<double> seen;
    bool ran = false;
    c.run(probe(x, &seen, &ran));
    ASSERT_TRUE(ran) << c.what;
    EXPECT_EQ(seen, c.expected) << c.what;
    EXPECT_EQ(autograd::uniform_value(x.grad()), std::nullopt) << c.what << ": a leaf's .grad carries no mark";
    if (c.expected) {
      EXPECT_EQ(x.grad().item<double>(), *c.expected) << c.what << ": the mark matches the values";
    }
  }
}

}  // namespace
}  // namespace kdcu
