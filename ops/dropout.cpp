#include "ops/dropout.h"

#include "core/autograd.h"
#include "core/factories.h"
#include "core/philox.h"
#include "kernels/cpu/dropout.h"
#include "kernels/cuda/dropout.h"
#include "kernels/dispatch.h"

namespace kdcu {
namespace ops {

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  check_defined(x, "dropout", "x");
  check_floating(x, "dropout");
  require<ValueError>(p >= 0.0 && p <= 1.0, "dropout: expected a probability p in [0, 1], found ", p);
  if (!training || p == 0.0 || x.numel() == 0) return x;
  // The mask is kept only for a backward; under no-grad the kernel skips writing it.
  const bool graph = autograd::needs_graph({x});
  Tensor y = empty_like(x), mask = graph ? empty_like(x) : Tensor();
  // p == 1 keeps nothing and needs no randomness (PyTorch returns x * 0 without drawing).
  const auto n = static_cast<std::uint64_t>(x.numel());
  const std::uint64_t seed = gen.seed();
  const std::uint64_t block0 = p < 1.0 ? gen.reserve(philox::blocks_uniform_f32(n)) : 0;
  visit_floating(x.dtype(), "dropout", [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        x.device(),
        [&](auto) {
          kernels::cpu::dropout_forward<T>(x.data<T>(), y.data<T>(), graph ? mask.data<T>() : nullptr, x.numel(), p,
                                           seed, block0);
        },
        [&](auto) {
          kernels::cuda::dropout_forward<T>(x.data<T>(), y.data<T>(), graph ? mask.data<T>() : nullptr, x.numel(), p,
                                            seed, block0, x.device().index);
        });
  });
  if (graph) {
    autograd::record(y, "dropout", {x}, [mask](const Tensor& g, const std::vector<bool>&) -> Grads {
      Tensor dx = empty_like(g);
      visit_floating(g.dtype(), "dropout backward", [&](auto zero) {
        using T = decltype(zero);
        kernels::on_device(
            g.device(),
            [&](auto) { kernels::cpu::dropout_backward<T>(g.data<T>(), mask.data<T>(), dx.data<T>(), g.numel()); },
            [&](auto) {
              kernels::cuda::dropout_backward<T>(g.data<T>(), mask.data<T>(), dx.data<T>(), g.numel(),
                                                 g.device().index);
            });
      });
      return {dx};
    });
  }
  return y;
}

}  // namespace ops
}  // namespace kdcu
