// Relational losses composed of kdcu ops: pairwise differences by broadcasting ([1, B, D] - [B, 1, D]),
// sums, sqrt and the shared row normalisation; Gram and cosine matrices by linear (x x^T) or a batched
// matmul with transpose; smooth_l1_loss and mse_loss compare student and teacher.
#include "distill/relation_losses.h"

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/factories.h"
#include "distill/loss_util.h"
#include "ops/elementwise.h"
#include "ops/linear.h"
#include "ops/loss.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "ops/smooth_l1.h"

namespace kdcu {
namespace distill {
namespace {

// Added to squared distances before the sqrt (the RKD reference's clamp value).
constexpr double kDistanceEps = 1e-12;

struct Flat {
  Tensor s, t;  // [B, Ds], [B, Dt]
};

// Both flattened to [B, D]; ShapeError naming `op` unless the batch sizes match.
Flat flatten_pair(const Tensor& s_emb, const Tensor& t_emb, const char* op) {
  detail::check_pair(s_emb, t_emb, op);
  Flat f{detail::flatten_batch(s_emb, op, "student embeddings"),
         detail::flatten_batch(t_emb, op, "teacher embeddings")};
  require<ShapeError>(f.s.size(0) == f.t.size(0), op, ": expected teacher embeddings with the student's batch size ",
                      f.s.size(0), ", found ", shape_str(t_emb.shape()));
  return f;
}

// diff[j, i] = e_i - e_j for e [B, D] -> [B, B, D].
Tensor pairwise_differences(const Tensor& e) {
  const std::int64_t B = e.size(0), D = e.size(1);
  return ops::sub(e.reshape({1, B, D}), e.reshape({B, 1, D}));
}

// 1 off the diagonal, 0 on it: [B, B] in e's dtype and device (a constant, no gradient).
Tensor off_diagonal_mask(std::int64_t B, const Tensor& like) {
  std::vector<double> m(static_cast<size_t>(B * B), 1.0);
  for (std::int64_t i = 0; i < B; ++i) m[static_cast<size_t>(i * B + i)] = 0.0;
  return from_vector<double>(m, {B, B}).to(like.dtype()).to(like.device());
}

// RKD's normalized distance matrix: d_ij / mean_{i != j} d_ij, zero diagonal.
Tensor normalized_distances(const Tensor& e) {
  const std::int64_t B = e.size(0);
  const Tensor diff = pairwise_differences(e);
  const Tensor d = ops::sqrt(ops::add(ops::sum(ops::mul(diff, diff), 2), kDistanceEps));
  // The diagonal's sqrt(eps) is masked to 0; its gradient there is 0 anyway (diff is exactly 0).
  const Tensor masked = ops::mul(d, off_diagonal_mask(B, e));
  const Tensor mean = ops::mul(ops::sum(masked), 1.0 / static_cast<double>(B * (B - 1)));
  return ops::div(masked, mean);
}

// a[j, i, k] = <n(e_i - e_j), n(e_k - e_j)>: [B, B, B].
Tensor triplet_cosines(const Tensor& e) {
  const Tensor n = detail::normalize(pairwise_differences(e), 2);  // [B, B, D]
  return ops::matmul(n, ops::transpose(n, 1, 2));
}

// PKT's row-stochastic similarity: K = (n n^T + 1) / 2, each row divided by its sum.
Tensor pkt_conditional(const Tensor& e) {
  const Tensor n = detail::normalize(e, 1);
  const Tensor k = ops::affine(ops::linear(n, n), 0.5, 0.5);
  return ops::div(k, ops::sum(k, 1, true));
}

// SP's row-normalized Gram matrix.
Tensor sp_gram(const Tensor& f) {
  return detail::normalize(ops::linear(f, f), 1);
}

}  // namespace

Tensor rkd_distance_loss(const Tensor& s_emb, const Tensor& t_emb) {
  const char* op = "rkd_distance_loss";
  const Flat f = flatten_pair(s_emb, t_emb, op);
  require<ShapeError>(f.s.size(0) >= 2, op,
                      ": expected a batch of at least 2 embeddings (distances need pairs), found ",
                      shape_str(s_emb.shape()));
  return ops::smooth_l1_loss(normalized_distances(f.s), normalized_distances(f.t), 1.0, ops::Reduction::Mean);
}

Tensor rkd_angle_loss(const Tensor& s_emb, const Tensor& t_emb) {
  const Flat f = flatten_pair(s_emb, t_emb, "rkd_angle_loss");
  return ops::smooth_l1_loss(triplet_cosines(f.s), triplet_cosines(f.t), 1.0, ops::Reduction::Mean);
}

Tensor pkt_loss(const Tensor& s_emb, const Tensor& t_emb, double eps) {
  const char* op = "pkt_loss";
  const Flat f = flatten_pair(s_emb, t_emb, op);
  require<ValueError>(std::isfinite(eps) && eps > 0.0, op, ": eps must be finite and > 0, found ", eps);
  const Tensor ps = pkt_conditional(f.s), pt = pkt_conditional(f.t);
  return ops::mean(ops::mul(pt, ops::sub(ops::log(ops::add(pt, eps)), ops::log(ops::add(ps, eps)))));
}

Tensor sp_loss(const Tensor& s_feat, const Tensor& t_feat) {
  const Flat f = flatten_pair(s_feat, t_feat, "sp_loss");
  return ops::mse_loss(sp_gram(f.s), sp_gram(f.t), ops::Reduction::Mean);
}

}  // namespace distill
}  // namespace kdcu
