// Relational distillation losses over a batch's embeddings [B, ...] (flattened to [B, D]): RKD
// distance and angle, PKT probability transfer and similarity-preserving (SP) Gram matrices. The
// student and teacher dims D may differ; the batch size B must match. Composed of kdcu ops.
#pragma once

#include "core/tensor.h"

namespace kdcu {
namespace distill {

// RKD distance (Park et al. 2019, "Relational Knowledge Distillation"): d_ij = sqrt(||e_i - e_j||^2 +
// 1e-12) for i != j and d_ii = 0 (the eps keeps the sqrt's gradient finite at 0), each matrix divided
// by its mean over the B(B-1) off-diagonal pairs, then smooth_l1(d_s, d_t; beta 1) averaged over all
// B^2 entries (the reference code's mean). Needs B >= 2; memory O(B^2 D) (differences, not a Gram
// matrix, so close pairs keep their precision).
Tensor rkd_distance_loss(const Tensor& s_emb, const Tensor& t_emb);

// RKD angle: for every triplet, cos of the angle at e_j between e_i - e_j and e_k - e_j, as the [B, B, B]
// tensor a[j, i, k] = <n(e_i - e_j), n(e_k - e_j)> with n(v) = v / sqrt(||v||^2 + eps^2), eps = 1e-12
// (a degenerate triplet, i = j or k = j, gives 0 as with F.normalize), from a batched matmul of the
// [B, B, D] unit differences with their transpose; smooth_l1(a_s, a_t; beta 1) averaged over all B^3.
// Memory O(B^2 D + B^3).
Tensor rkd_angle_loss(const Tensor& s_emb, const Tensor& t_emb);

// PKT (Passalis & Tefas 2018, "Learning Deep Representations with Probabilistic Knowledge Transfer"),
// the reference code's definition: with n the rows L2-normalized (eps as above), K = (n n^T + 1) / 2 in
// [0, 1], each row divided by its sum, loss = mean over all B^2 entries of t * log((t + eps) / (s + eps)).
Tensor pkt_loss(const Tensor& s_emb, const Tensor& t_emb, double eps = 1e-7);

// SP (Tung & Mori 2019, "Similarity-Preserving Knowledge Distillation"): G = f f^T ([B, B]) with f the
// flattened features, each row of G L2-normalized (as in the paper and its reference code), then
// ||G_s - G_t||_F^2 / B^2.
Tensor sp_loss(const Tensor& s_feat, const Tensor& t_feat);

}  // namespace distill
}  // namespace kdcu
