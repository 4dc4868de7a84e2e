// Adam (L2 decay in the gradient) and AdamW (decoupled decay), as torch.optim.Adam/AdamW (1.13):
// one fused kernel per parameter (kernels/cpu/optim.h) with the parameter's own step count t for
// the bias corrections, kept as an i64 scalar on the CPU like PyTorch's state['step'].
#include <cmath>

#include "core/factories.h"
#include "kernels/cpu/optim.h"
#include "kernels/cuda/optim.h"
#include "kernels/dispatch.h"
#include "nn/optim.h"

namespace kdcu {
namespace nn {

Adam::Adam(NamedTensors params, double lr, std::pair<double, double> betas, double eps, double weight_decay)
    : Adam("Adam", false, std::move(params), lr, betas, eps, weight_decay) {}

Adam::Adam(const char* type_name, bool decoupled, NamedTensors params, double lr, std::pair<double, double> betas,
           double eps, double weight_decay)
    : Optimizer(type_name, std::move(params), lr),
      decoupled_(decoupled),
      beta1_(betas.first),
      beta2_(betas.second),
      eps_(eps),
      weight_decay_(weight_decay) {
  validate(beta1_, beta2_, eps_, weight_decay_);
}

AdamW::AdamW(NamedTensors params, double lr, std::pair<double, double> betas, double eps, double weight_decay)
    : Adam("AdamW", true, std::move(params), lr, betas, eps, weight_decay) {}

void Adam::validate(double beta1, double beta2, double eps, double weight_decay) const {
  check_arg(beta1 >= 0.0 && beta1 < 1.0, "beta1", beta1, "in [0, 1)");
  check_arg(beta2 >= 0.0 && beta2 < 1.0, "beta2", beta2, "in [0, 1)");
  check_arg(std::isfinite(eps) && eps >= 0.0, "eps", eps, ">= 0");
  check_arg(std::isfinite(weight_decay) && weight_decay >= 0.0, "weight_decay", weight_decay, ">= 0");
}

std::vector<std::string> Adam::state_keys() const {
  return {"step", "exp_avg", "exp_avg_sq"};
}

std::vector<Tensor> Adam::init_state(const Tensor& param) const {
  return {zeros({}, DType::I64), zeros_like(param), zeros_like(param)};
}

void Adam::update(const Tensor& param, const Tensor& grad, std::vector<Tensor>& state, bool) {
  std::int64_t& t = state[0].data<std::int64_t>()[0];
  const std::int64_t step = t + 1;
  visit_floating(param.dtype(), "adam_step", [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        param.device(),
        [&](auto) {
          kernels::cpu::adam_step<T>(param.data<T>(), grad.data<T>(), state[1].data<T>(), state[2].data<T>(),
                                     param.numel(), lr(), beta1_, beta2_, eps_, weight_decay_, decoupled_, step);
        },
        [&](auto) {
          kernels::cuda::adam_step<T>(param.data<T>(), grad.data<T>(), state[1].data<T>(), state[2].data<T>(),
                                      param.numel(), lr(), beta1_, beta2_, eps_, weight_decay_, decoupled_, step,
                                      param.device().index);
        });
  });
  t = step;  // only once the update has run
}

Optimizer::Hyper Adam::hyper() const {
  return {{"beta1", format_double(beta1_)},
          {"beta2", format_double(beta2_)},
          {"eps", format_double(eps_)},
          {"weight_decay", format_double(weight_decay_)}};
}

void Adam::set_hyper(const Hyper& values) {
  const double beta1 = parse_double(values, "beta1"), beta2 = parse_double(values, "beta2");
  const double eps = parse_double(values, "eps"), weight_decay = parse_double(values, "weight_decay");
  validate(beta1, beta2, eps, weight_decay);
  beta1_ = beta1;
  beta2_ = beta2;
  eps_ = eps;
  weight_decay_ = weight_decay;
}

}  // namespace nn
}  // namespace kdcu
