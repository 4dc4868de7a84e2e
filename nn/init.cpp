// torch.nn.init's rules over kdcu's random factories: a random fill draws a fresh tensor on the
// target's device and copies it in, so the handle (and any optimizer holding it) is kept.
#include "nn/init.h"

#include <cmath>

#include "core/autograd.h"
#include "core/factories.h"
#include "core/philox.h"

namespace kdcu {
namespace nn {
namespace init {
namespace {

void check_target(const Tensor& t, const char* op) {
  check_defined(t, op, "tensor");
  check_floating(t, op);
}

double kaiming_std(const Tensor& t, double a, FanMode mode, Nonlinearity nonlinearity) {
  const Fans fans = compute_fans(t.shape());
  const std::int64_t fan = mode == FanMode::FanIn ? fans.in : fans.out;
  require<ValueError>(fan > 0, "kaiming init: a weight of shape ", shape_str(t.shape()), " has fan 0");
  return calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan));
}

}  // namespace

double calculate_gain(Nonlinearity nonlinearity, double param) {
  switch (nonlinearity) {
    case Nonlinearity::Linear:
    case Nonlinearity::Sigmoid:
      return 1.0;
    case Nonlinearity::ReLU:
      return std::sqrt(2.0);
    case Nonlinearity::Tanh:
      return 5.0 / 3.0;
    case Nonlinearity::LeakyReLU:
      return std::sqrt(2.0 / (1.0 + param * param));
  }
  throw ValueError("calculate_gain: unknown nonlinearity");
}

Fans compute_fans(const Shape& s) {
  require<ValueError>(s.size() >= 2, "compute_fans: expected a weight with at least 2 dims [out, in, ...], found ",
                      shape_str(s));
  std::int64_t receptive = 1;
  for (size_t d = 2; d < s.size(); ++d) receptive *= s[d];
  return Fans{s[1] * receptive, s[0] * receptive};
}

void uniform_(const Tensor& t, double lo, double hi, Generator& gen) {
  check_target(t, "uniform_");
  autograd::NoGradGuard no_grad;
  copy_into(t, rand(t.shape(), gen, t.dtype(), t.device(), lo, hi));
}

void normal_(const Tensor& t, double mean, double stddev, Generator& gen) {
  check_target(t, "normal_");
  autograd::NoGradGuard no_grad;
  copy_into(t, randn(t.shape(), gen, t.dtype(), t.device(), mean, stddev));
}

void constant_(const Tensor& t, double value) {
  check_defined(t, "constant_", "tensor");
  fill_(t, value);
}

void kaiming_uniform_(const Tensor& t, Generator& gen, double a, FanMode mode, Nonlinearity nonlinearity) {
  check_target(t, "kaiming_uniform_");
  const double bound = std::sqrt(3.0) * kaiming_std(t, a, mode, nonlinearity);
  uniform_(t, -bound, bound, gen);
}

void kaiming_normal_(const Tensor& t, Generator& gen, double a, FanMode mode, Nonlinearity nonlinearity) {
  check_target(t, "kaiming_normal_");
  normal_(t, 0.0, kaiming_std(t, a, mode, nonlinearity), gen);
}

void default_weight_bias_(const Tensor& weight, const Tensor& bias, Generator& gen) {
  kaiming_uniform_(weight, gen, std::sqrt(5.0));
  if (!bias.defined()) return;
  const std::int64_t fan_in = compute_fans(weight.shape()).in;
  const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
  uniform_(bias, -bound, bound, gen);
}

std::uint64_t draw_seed(Generator& gen) {
  const philox::Words w = philox::block(gen.seed(), gen.reserve(1));
  return (static_cast<std::uint64_t>(w.w[1]) << 32) | w.w[0];
}

}  // namespace init
}  // namespace nn
}  // namespace kdcu
