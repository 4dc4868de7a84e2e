// SGD with momentum, dampening, Nesterov and L2 weight decay, as torch.optim.SGD (1.13): one fused
// kernel per parameter (kernels/cpu/optim.h), the momentum buffer created on the first update.
#include <cmath>

#include "core/factories.h"
#include "kernels/cpu/optim.h"
#include "kernels/cuda/optim.h"
#include "kernels/dispatch.h"
#include "nn/optim.h"

namespace kdcu {
namespace nn {

SGD::SGD(NamedTensors params, double lr, double momentum, double dampening, double weight_decay, bool nesterov)
    : Optimizer("SGD", std::move(params), lr),
      momentum_(momentum),
      dampening_(dampening),
      weight_decay_(weight_decay),
      nesterov_(nesterov) {
  validate(momentum, dampening, weight_decay, nesterov);
}

void SGD::validate(double momentum, double dampening, double weight_decay, bool nesterov) const {
  check_arg(std::isfinite(momentum) && momentum >= 0.0, "momentum", momentum, ">= 0");
  check_arg(std::isfinite(dampening), "dampening", dampening, "a finite number");
  check_arg(std::isfinite(weight_decay) && weight_decay >= 0.0, "weight_decay", weight_decay, ">= 0");
  if (nesterov) {
    check_arg(momentum > 0.0, "momentum", momentum, "> 0 with nesterov");
    check_arg(dampening == 0.0, "dampening", dampening, "0 with nesterov");
  }
}

std::vector<std::string> SGD::state_keys() const {
  if (momentum_ == 0.0) return {};
  return {"momentum_buffer"};
}

std::vector<Tensor> SGD::init_state(const Tensor& param) const {
  if (momentum_ == 0.0) return {};
  return {empty_like(param)};  // the first update writes all of it
}

void SGD::update(const Tensor& param, const Tensor& grad, std::vector<Tensor>& state, bool first) {
  const std::int64_t n = param.numel();
  visit_floating(param.dtype(), "sgd_step", [&](auto zero) {
    using T = decltype(zero);
    T* buf = state.empty() ? nullptr : state[0].data<T>();
    kernels::on_device(
        param.device(),
        [&](auto) {
          kernels::cpu::sgd_step<T>(param.data<T>(), grad.data<T>(), buf, n, lr(), momentum_, dampening_, weight_decay_,
                                    nesterov_, first);
        },
        [&](auto) {
          kernels::cuda::sgd_step<T>(param.data<T>(), grad.data<T>(), buf, n, lr(), momentum_, dampening_,
                                     weight_decay_, nesterov_, first, param.device().index);
        });
  });
}

Optimizer::Hyper SGD::hyper() const {
  return {{"momentum", format_double(momentum_)},
          {"dampening", format_double(dampening_)},
          {"weight_decay", format_double(weight_decay_)},
          {"nesterov", nesterov_ ? "true" : "false"}};
}

void SGD::set_hyper(const Hyper& values) {
  const double momentum = parse_double(values, "momentum"), dampening = parse_double(values, "dampening");
  const double weight_decay = parse_double(values, "weight_decay");
  const bool nesterov = parse_bool(values, "nesterov");
  validate(momentum, dampening, weight_decay, nesterov);
  momentum_ = momentum;
  dampening_ = dampening;
  weight_decay_ = weight_decay;
  nesterov_ = nesterov;
}

}  // namespace nn
}  // namespace kdcu
