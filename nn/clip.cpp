// Global-norm gradient clipping: one f64 partial per gradient tensor (kernels/cpu/optim.h), added
// in parameter order, then one in-place scale of each gradient when the norm is over the limit.
#include "nn/clip.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "kernels/cpu/optim.h"
#include "kernels/cuda/optim.h"
#include "kernels/dispatch.h"

namespace kdcu {
namespace nn {
namespace {

void check_norm_type(double norm_type) {
  require<ValueError>(norm_type > 0.0 && !std::isnan(norm_type), "clip_grad_norm: invalid norm_type ", norm_type,
                      " (expected > 0, or infinity for the max norm)");
}

}  // namespace

double grad_norm(const std::vector<Tensor>& params, double norm_type) {
  check_norm_type(norm_type);
  const bool is_max = std::isinf(norm_type);
  double acc = 0.0;  // sum of |g|^p, or the running max
  for (const Tensor& p : params) {
    require<ValueError>(p.defined(), "clip_grad_norm: an undefined tensor in the parameter list");
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    const double part = visit_floating(g.dtype(), "clip_grad_norm", [&](auto zero) {
      using T = decltype(zero);
      return kernels::on_device(
          g.device(),
          [&](auto) {
            return is_max ? kernels::cpu::abs_max<T>(g.data<T>(), g.numel())
                          : kernels::cpu::abs_pow_sum<T>(g.data<T>(), g.numel(), norm_type);
          },
          [&](auto) -> double {
            // One reduction over all of `params`' gradients on this device with this dtype, run when
            // the loop meets the first of them; the others then add 0 (neutral for the sum and the
            // max), so the device is read once, not once per parameter.
            std::vector<kernels::cuda::ConstSpan<T>> spans;
            for (const Tensor& q : params) {
              const Tensor qg = q.defined() ? q.grad() : Tensor();
              if (!qg.defined() || qg.device() != g.device() || qg.dtype() != g.dtype()) continue;
              if (spans.empty() && &q != &p) return 0.0;  // p is not the first: already counted
              spans.push_back({qg.data<T>(), qg.numel()});
            }
            return is_max
                       ? kernels::cuda::abs_max_multi<T>(spans.data(), spans.size(), g.device().index)
                       : kernels::cuda::abs_pow_sum_multi<T>(spans.data(), spans.size(), norm_type, g.device().index);
          });
    });
    if (is_max) {
      acc = (std::isnan(part) || std::isnan(acc)) ? std::nan("") : std::max(acc, part);
    } else {
      acc += part;
    }
  }
  if (is_max) return acc;
  return norm_type == 2.0 ? std::sqrt(acc) : norm_type == 1.0 ? acc : std::pow(acc, 1.0 / norm_type);
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, double norm_type) {
  require<ValueError>(max_norm > 0.0, "clip_grad_norm: invalid max_norm ", max_norm, " (expected > 0)");
  const double total = grad_norm(params, norm_type);
  if (!std::isfinite(total)) return total;  // the caller decides (see clip.h)
  const double coef = max_norm / (total + 1e-6);
  if (coef >= 1.0) return total;
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    visit_floating(g.dtype(), "clip_grad_norm", [&](auto zero) {
      using T = decltype(zero);
      kernels::on_device(
          g.device(), [&](auto) { kernels::cpu::scale_inplace<T>(g.data<T>(), g.numel(), coef); },
          [&](auto) { kernels::cuda::scale_inplace<T>(g.data<T>(), g.numel(), coef, g.device().index); });
    });
  }
  return total;
}

double clip_grad_norm(const NamedTensors& params, double max_norm, double norm_type) {
  std::vector<Tensor> tensors;
  tensors.reserve(params.size());
  for (const auto& [name, p] : params) tensors.push_back(p);
  return clip_grad_norm(tensors, max_norm, norm_type);
}

}  // namespace nn
}  // namespace kdcu
