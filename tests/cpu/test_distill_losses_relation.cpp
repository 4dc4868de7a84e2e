// distill relational losses: RKD distance and angle, PKT and SP against hand-computed cases and
// independent loop references, f64 gradient checks w.r.t. the student embeddings, finite gradients
// on the diagonal (zero distances) and for duplicate rows, and errors naming expected vs found.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/factories.h"
#include "distill/relation_losses.h"
#include "tests/support/checks.h"
#include "tests/support/gradcheck.h"

namespace kdcu {
namespace {

using testing::gradcheck;
using testing::leaf;
using testing::random;
using testing::throws_with;

::testing::AssertionResult close(double actual, double expected) {
  return testing::all_close(scalar(actual, DType::F64), scalar(expected, DType::F64));
}

using Mat = std::vector<std::vector<double>>;

// Rows of a tensor flattened to [B, D].
Mat rows_of(const Tensor& x) {
  const std::int64_t B = x.size(0), D = x.numel() / B;
  const std::vector<double> v = x.to_vector<double>();
  Mat m(static_cast<size_t>(B));
  for (std::int64_t b = 0; b < B; ++b) m[static_cast<size_t>(b)].assign(v.begin() + b * D, v.begin() + (b + 1) * D);
  return m;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

std::vector<double> unit(std::vector<double> v) {  // v / sqrt(|v|^2 + 1e-24)
  const double n = std::sqrt(dot(v, v) + 1e-24);
  for (double& x : v) x /= n;
  return v;
}

double smooth_l1(double d) {
  return std::fabs(d) < 1.0 ? 0.5 * d * d : std::fabs(d) - 0.5;
}

// RKD's normalized distances, flattened [B * B].
std::vector<double> rkd_distances(const Mat& e) {
  const size_t B = e.size();
  std::vector<double> d(B * B, 0.0);
  double sum = 0.0;
  for (size_t i = 0; i < B; ++i)
    for (size_t j = 0; j < B; ++j) {
      if (i == j) continue;
      double sq = 0.0;
      for (size_t k = 0; k < e[i].size(); ++k) sq += (e[i][k] - e[j][k]) * (e[i][k] - e[j][k]);
      d[i * B + j] = std::sqrt(sq + 1e-12);
      sum += d[i * B + j];
    }
  for (double& x : d) x /= sum / static_cast<double>(B * (B - 1));
  return d;
}

// cos at e_j of (e_i - e_j, e_k - e_j), flattened [B * B * B] as (j, i, k).
std::vector<double> rkd_angles(const Mat& e) {
  const size_t B = e.size();
  std::vector<double> a;
  const auto diff = [&](size_t i, size_t j) {
    std::vector<double> v(e[i].size());
    for (size_t k = 0; k < v.size(); ++k) v[k] = e[i][k] - e[j][k];
    return unit(v);
  };
  for (size_t j = 0; j < B; ++j)
    for (size_t i = 0; i < B; ++i)
      for (size_t k = 0; k < B; ++k) a.push_back(dot(diff(i, j), diff(k, j)));
  return a;
}

double mean_smooth_l1(const std::vector<double>& s, const std::vector<double>& t) {
  double total = 0.0;
  for (size_t i = 0; i < s.size(); ++i) total += smooth_l1(s[i] - t[i]);
  return total / static_cast<double>(s.size());
}

// PKT's row-stochastic (cos + 1) / 2, flattened [B * B].
std::vector<double> pkt_probabilities(const Mat& e) {
  const size_t B = e.size();
  std::vector<double> p(B * B);
  for (size_t i = 0; i < B; ++i) {
    double row = 0.0;
    for (size_t j = 0; j < B; ++j) row += p[i * B + j] = (dot(unit(e[i]), unit(e[j])) + 1.0) / 2.0;
    for (size_t j = 0; j < B; ++j) p[i * B + j] /= row;
  }
  return p;
}

double pkt_reference(const Mat& s, const Mat& t, double eps) {
  const std::vector<double> ps = pkt_probabilities(s), pt = pkt_probabilities(t);
  double total = 0.0;
  for (size_t i = 0; i < ps.size(); ++i) total += pt[i] * std::log((pt[i] + eps) / (ps[i] + eps));
  return total / static_cast<double>(ps.size());
}

// SP: rows of f f^T L2-normalized, flattened [B * B].
std::vector<double> sp_gram(const Mat& f) {
  const size_t B = f.size();
  std::vector<double> g;
  for (size_t i = 0; i < B; ++i) {
    std::vector<double> row;
    for (size_t j = 0; j < B; ++j) row.push_back(dot(f[i], f[j]));
    row = unit(row);
    g.insert(g.end(), row.begin(), row.end());
  }
  return g;
}

double sp_reference(const Mat& s, const Mat& t) {
  const std::vector<double> gs = sp_gram(s), gt = sp_gram(t);
  double total = 0.0;
  for (size_t i = 0; i < gs.size(); ++i) total += (gs[i] - gt[i]) * (gs[i] - gt[i]);
  return total / static_cast<double>(s.size() * s.size());
}

bool finite_grad(const Tensor& x) {
  if (!x.grad().defined()) return false;
  for (double g : x.grad().to_vector<double>())
    if (!std::isfinite(g)) return false;
  return true;
}

// ----------------------------------------------------------------------------- RKD distance

TEST(DistillRkd, DistanceHandComputed) {
  // Student: a 3-4-5 triangle (mean distance 4). Teacher in 3-D: a right isosceles 1-1-sqrt(2) triangle.
  const Tensor s = from_vector<double>({0, 0, 3, 0, 0, 4}, {3, 2});
  const Tensor t = from_vector<double>({0, 0, 0, 1, 0, 0, 0, 1, 0}, {3, 3});
  const double mt = (2.0 + std::sqrt(2.0)) / 3.0;
  const double d01 = 0.75 - 1.0 / mt, d02 = 1.0 - 1.0 / mt, d12 = 1.25 - std::sqrt(2.0) / mt;
  const double expected = 2.0 * 0.5 * (d01 * d01 + d02 * d02 + d12 * d12) / 9.0;
  EXPECT_TRUE(close(distill::rkd_distance_loss(s, t).item<double>(), expected));
  // Scale invariance: a scaled (and higher-dimensional) copy of the student has the same normalized distances.
  const Tensor s3 = from_vector<double>({0, 0, 0, 6, 0, 0, 0, 8, 0}, {3, 3});
  EXPECT_TRUE(close(distill::rkd_distance_loss(s, s3).item<double>(), 0.0));
}

TEST(DistillRkd, DistanceMatchesReference) {
  const Tensor s = random({5, 2, 2}, 1, false, -2.0, 2.0), t = random({5, 7}, 2, false, -2.0, 2.0);
  const double ref = mean_smooth_l1(rkd_distances(rows_of(s)), rkd_distances(rows_of(t)));
  EXPECT_TRUE(close(distill::rkd_distance_loss(s, t).item<double>(), ref));
}

TEST(DistillRkdGrad, DistanceStudent) {
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return distill::rkd_distance_loss(in[0], in[1]); },
                        {leaf({4, 3}, 3), random({4, 5}, 4, false, -2.0, 2.0)}));
}

TEST(DistillRkd, ZeroDistancesGiveFiniteGradients) {
  // The diagonal, and two identical student rows (an off-diagonal zero distance).
  Tensor s = from_vector<double>({0.5, -1, 2, 0.5, -1, 2, 1, 1, 0, -2, 0, 1}, {4, 3});
  s.requires_grad_();
  const Tensor loss = distill::rkd_distance_loss(s, random({4, 5}, 5));
  EXPECT_TRUE(std::isfinite(loss.item<double>()));
  loss.backward();
  EXPECT_TRUE(finite_grad(s));
}

// ----------------------------------------------------------------------------- RKD angle

TEST(DistillRkd, AngleHandComputed) {
  // A right angle at e0; 45 degrees at e1 and e2. The teacher's identical embeddings give cos 0 everywhere,
  // so the loss is the mean of 0.5 a^2: for each vertex j, the entries i == k != j are 1 (4 + 2 more)
  // and the cross entries are cos 0, cos 45, cos 45 (twice each): sum a^2 = 6 + 2 (0 + 1/2 + 1/2) = 8.
  const Tensor s = from_vector<double>({0, 0, 1, 0, 0, 1}, {3, 2});
  const Tensor t = from_vector<double>({1, 2, 3, 1, 2, 3, 1, 2, 3}, {3, 3});
  EXPECT_TRUE(close(distill::rkd_angle_loss(s, t).item<double>(), 0.5 * 8.0 / 27.0));
  EXPECT_EQ(distill::rkd_angle_loss(s, s).item<double>(), 0.0);
}

TEST(DistillRkd, AngleMatchesReference) {
  const Tensor s = random({4, 3}, 6, false, -2.0, 2.0), t = random({4, 2, 3}, 7, false, -2.0, 2.0);
  const double ref = mean_smooth_l1(rkd_angles(rows_of(s)), rkd_angles(rows_of(t)));
  EXPECT_TRUE(close(distill::rkd_angle_loss(s, t).item<double>(), ref));
}

TEST(DistillRkdGrad, AngleStudent) {
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return distill::rkd_angle_loss(in[0], in[1]); },
                        {leaf({4, 3}, 8), random({4, 6}, 9, false, -2.0, 2.0)}));
}

TEST(DistillRkd, AngleDiagonalGivesFiniteGradients) {
  Tensor s = leaf({5, 4}, 10);
  const Tensor loss = distill::rkd_angle_loss(s, random({5, 3}, 11));
  EXPECT_TRUE(std::isfinite(loss.item<double>()));
  loss.backward();
  EXPECT_TRUE(finite_grad(s));
}

TEST(DistillRkd, ErrorsNameExpectedAndFound) {
  const Tensor s = zeros({4, 3});
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        distill::rkd_distance_loss(s, zeros({3, 5}));
      },
      "rkd_distance_loss: expected teacher embeddings with the student's batch size 4, found [3, 5]"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        distill::rkd_angle_loss(s, zeros({5, 3}));
      },
      "rkd_angle_loss: expected teacher embeddings with the student's batch size 4, found [5, 3]"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] { distill::rkd_distance_loss(zeros({4}), s); },
      "rkd_distance_loss: expected student embeddings of shape [B, ...] with at least 2 dims, found [4]"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        distill::rkd_distance_loss(zeros({1, 3}), zeros({1, 2}));
      },
      "rkd_distance_loss: expected a batch of at least 2 embeddings (distances need pairs), found [1, 3]"));
  EXPECT_TRUE(throws_with<DTypeError>(
      [&] {
        distill::rkd_angle_loss(s, zeros({4, 3}, DType::F64));
      },
      "rkd_angle_loss: dtypes differ (f32 and f64)"));
}

// ----------------------------------------------------------------------------- PKT

TEST(DistillPkt, HandComputed) {
  // Student rows orthogonal: K = [[1, 1/2], [1/2, 1]] -> rows [2/3, 1/3]. Teacher rows equal: all 1/2.
  const Tensor s = from_vector<double>({2, 0, 0, 3}, {2, 2}), t = from_vector<double>({1, 1, 1, 2, 2, 2}, {2, 3});
  const double eps = 1e-7;
  const double expected =
      2.0 * (0.5 * std::log((0.5 + eps) / (2.0 / 3.0 + eps)) + 0.5 * std::log((0.5 + eps) / (1.0 / 3.0 + eps))) / 4.0;
  EXPECT_TRUE(close(distill::pkt_loss(s, t).item<double>(), expected));
  EXPECT_EQ(distill::pkt_loss(s, s).item<double>(), 0.0);
}

TEST(DistillPkt, MatchesReference) {
  const Tensor s = random({5, 3}, 12, false, -2.0, 2.0), t = random({5, 2, 2}, 13, false, -2.0, 2.0);
  for (double eps : {1e-7, 1e-3})
    EXPECT_TRUE(close(distill::pkt_loss(s, t, eps).item<double>(), pkt_reference(rows_of(s), rows_of(t), eps))) << eps;
}

TEST(DistillPktGrad, Student) {
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return distill::pkt_loss(in[0], in[1]); },
                        {leaf({4, 3}, 14), random({4, 5}, 15, false, -2.0, 2.0)}));
}

TEST(DistillPkt, ErrorsNameExpectedAndFound) {
  const Tensor s = zeros({4, 3});
  EXPECT_TRUE(
      throws_with<ValueError>([&] { distill::pkt_loss(s, s, 0.0); }, "pkt_loss: eps must be finite and > 0, found 0"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        distill::pkt_loss(s, zeros({2, 3}));
      },
      "pkt_loss: expected teacher embeddings with the student's batch size 4, found [2, 3]"));
}

// ----------------------------------------------------------------------------- SP

TEST(DistillSp, HandComputed) {
  // Student rows orthogonal: normalized G = I. Teacher rows equal: every entry 1/sqrt(2).
  const Tensor s = from_vector<double>({1, 0, 0, 1}, {2, 2}), t = from_vector<double>({1, 1, 1, 1}, {2, 2});
  const double r = 1.0 / std::sqrt(2.0);
  const double expected = (2.0 * (1.0 - r) * (1.0 - r) + 2.0 * r * r) / 4.0;
  EXPECT_TRUE(close(distill::sp_loss(s, t).item<double>(), expected));
}

TEST(DistillSp, MatchesReferenceOnFeatureMaps) {
  const Tensor s = random({4, 2, 2, 2}, 16, false, -2.0, 2.0), t = random({4, 3, 2, 1}, 17, false, -2.0, 2.0);
  EXPECT_TRUE(close(distill::sp_loss(s, t).item<double>(), sp_reference(rows_of(s), rows_of(t))));
}

TEST(DistillSpGrad, Student) {
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return distill::sp_loss(in[0], in[1]); },
                        {leaf({4, 2, 1, 3}, 18), random({4, 5}, 19, false, -2.0, 2.0)}));
}

TEST(DistillSp, ErrorsNameExpectedAndFound) {
  EXPECT_TRUE(throws_with<ShapeError>(
      [] {
        distill::sp_loss(zeros({4, 3, 2, 2}), zeros({3, 3, 2, 2}));
      },
      "sp_loss: expected teacher embeddings with the student's batch size 4, found [3, 3, 2, 2]"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [] {
        distill::sp_loss(zeros({4, 3}), zeros({4}));
      },
      "sp_loss: expected teacher embeddings of shape [B, ...] with at least 2 dims, found [4]"));
}

// ----------------------------------------------------------------------------- f32

TEST(DistillRelation, F32MatchesF64) {
  // Each loss chains about ten ops in the tensor's precision (kernels accumulate in f64), hence the
  // f32 tolerance scaled by 10.
  const testing::Tolerance tol = testing::tolerance_for(DType::F32, 10.0);
  const Tensor s = random({6, 5}, 20, false, -2.0, 2.0).to(DType::F32).to(DType::F64);  // exact in f32
  const Tensor t = random({6, 3}, 21, false, -2.0, 2.0).to(DType::F32).to(DType::F64);
  using Loss = Tensor (*)(const Tensor&, const Tensor&);
  const Loss losses[] = {distill::rkd_distance_loss, distill::rkd_angle_loss, distill::sp_loss,
                         [](const Tensor& a, const Tensor& b) { return distill::pkt_loss(a, b); }};
  for (size_t k = 0; k < 4; ++k) {
    Tensor s32 = s.to(DType::F32), s64 = s.detach();
    s32.requires_grad_();
    s64.requires_grad_();
    const Tensor v32 = losses[k](s32, t.to(DType::F32)), v64 = losses[k](s64, t);
    v32.backward();
    v64.backward();
    EXPECT_TRUE(testing::all_close(v32.to(DType::F64), v64, tol)) << "loss " << k;
    EXPECT_TRUE(testing::all_close(s32.grad().to(DType::F64), s64.grad(), tol)) << "loss " << k;
  }
}

}  // namespace
}  // namespace kdcu
