// The loss ops' shared checks and scalar reduction (ops/loss_util.h).
#include "ops/loss_util.h"

#include "core/factories.h"
#include "kernels/cpu/loss.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cuda/reduce.h"
#include "kernels/dispatch.h"

namespace kdcu {
namespace ops {
namespace detail {

double reduction_scale(Reduction r, std::int64_t count, std::int64_t batch) {
  switch (r) {
    case Reduction::Mean:
      return 1.0 / static_cast<double>(count);
    case Reduction::BatchMean:
      return 1.0 / static_cast<double>(batch);
    default:
      return 1.0;
  }
}

Tensor reduce_parts(const Tensor& parts, double scale, const char* op) {
  Tensor out = empty({}, parts.dtype(), parts.device());
  visit_floating(parts.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        parts.device(),
        [&](auto) { kernels::cpu::sum_all_forward<T>(parts.data<T>(), out.data<T>(), parts.numel(), T(scale)); },
        [&](auto) {
          kernels::cuda::sum_all_forward<T>(parts.data<T>(), out.data<T>(), parts.numel(), T(scale),
                                            parts.device().index);
        });
  });
  return out;
}

void check_class_labels(const Tensor& labels, const Tensor& logits, const char* op) {
  check_defined(labels, op, "labels");
  const std::int64_t N = logits.size(0);
  require<DTypeError>(labels.dtype() == DType::I64, op, ": expected labels of dtype i64 (class indices), found ",
                      dtype_name(labels.dtype()));
  require<ShapeError>(labels.shape() == Shape{N}, op, ": expected labels of shape [", N, "] for logits ",
                      shape_str(logits.shape()), ", found ", shape_str(labels.shape()));
  check_same_device(logits, labels, op);
}

const std::int64_t* cpu_checked_labels(const Tensor& labels, std::int64_t N, std::int64_t C, const char* op) {
  const std::int64_t* y = labels.data<std::int64_t>();
  const std::int64_t bad = kernels::cpu::first_bad_label(y, N, C);
  require<ValueError>(bad < 0, op, ": label ", bad < 0 ? 0 : y[bad], " in row ", bad, " is out of range for ", C,
                      " classes (expected 0 <= label < ", C, ")");
  return y;
}

void check_logit_pair(const Tensor& s, const Tensor& t, const char* op) {
  check_defined(s, op, "student_logits");
  check_defined(t, op, "teacher_logits");
  check_floating(s, op);
  require<ShapeError>(s.dim() == 2, op, ": expected student logits of shape [B, C], found ", shape_str(s.shape()));
  require<ShapeError>(s.shape() == t.shape(), op, ": expected teacher logits of the student's shape ",
                      shape_str(s.shape()), ", found ", shape_str(t.shape()));
  check_same_dtype(s, t, op);
  check_same_device(s, t, op);
}

[[noreturn]] void cuda_f32_only(const char* op) {
  throw DTypeError(cat(op, ": the CUDA kernel supports f32 only, found f64; run f64 on the CPU ",
                       "(.to(Device::cpu())) or cast to f32 (.to(DType::F32))"));
}

}  // namespace detail
}  // namespace ops
}  // namespace kdcu
