// Helpers shared by the distillation losses: checks with the loss's name, and op compositions.
#include "distill/loss_util.h"

#include "core/error.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"

namespace kdcu {
namespace distill {
namespace detail {

void check_pair(const Tensor& s, const Tensor& t, const char* op) {
  check_defined(s, op, "student");
  check_defined(t, op, "teacher");
  check_floating(s, op);
  check_same_dtype(s, t, op);
  check_same_device(s, t, op);
}

void check_logits_pair(const Tensor& s, const Tensor& t, const char* op) {
  check_pair(s, t, op);
  require<ShapeError>(s.dim() == 2, op, ": expected student logits of shape [B, C], found ", shape_str(s.shape()));
  require<ShapeError>(t.shape() == s.shape(), op, ": expected teacher logits of the student's shape ",
                      shape_str(s.shape()), ", found ", shape_str(t.shape()));
}

Tensor flatten_batch(const Tensor& x, const char* op, const char* what) {
  require<ShapeError>(x.dim() >= 2, op, ": expected ", what, " of shape [B, ...] with at least 2 dims, found ",
                      shape_str(x.shape()));
  return x.flatten(1);
}

Tensor normalize(const Tensor& x, std::int64_t dim, double eps) {
  const Tensor norm = ops::sqrt(ops::add(ops::sum(ops::mul(x, x), dim, true), eps * eps));
  return ops::div(x, norm);
}

Tensor clamp_min(const Tensor& x, double lo) {
  return ops::add(ops::relu(ops::add(x, -lo)), lo);
}

}  // namespace detail
}  // namespace distill
}  // namespace kdcu
