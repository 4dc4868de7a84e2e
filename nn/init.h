// Parameter initialisation as torch.nn.init defines it (uniform, normal, constant, Kaiming), drawn
// from a kdcu Generator so that one seed fixes a model's initial weights on any device; plus
// LayerOptions, the generator and dtype every layer builds its parameters with.
#pragma once

#include <cstdint>

#include "core/rng.h"
#include "core/tensor.h"

namespace kdcu {
namespace nn {

// What a layer's constructor needs besides its geometry. A null `gen` means the process-wide
// default generator (core/rng.h), as PyTorch's layers draw from the global one; models pass
// their own. `dtype` is that of the parameters and buffers: f32 to train, f64 for gradient checks.
struct LayerOptions {
  Generator* gen = nullptr;
  DType dtype = DType::F32;
  // false: Linear and Conv2d leave their weight and bias uninitialised (and draw nothing), for a
  // model that initialises them itself right away (ResNet's Kaiming init) rather than drawing
  // every weight twice.
  bool default_init = true;

  Generator& generator() const { return gen ? *gen : default_generator(); }
};

namespace init {

enum class FanMode { FanIn, FanOut };
enum class Nonlinearity { Linear, ReLU, LeakyReLU, Tanh, Sigmoid };

// torch.nn.init.calculate_gain: 1 (Linear, Sigmoid), sqrt(2) (ReLU), 5/3 (Tanh),
// sqrt(2 / (1 + slope^2)) (LeakyReLU with negative slope `param`).
double calculate_gain(Nonlinearity nonlinearity, double param = 0.01);

// A weight [out, in, k...] has fan_in = in * prod(k) and fan_out = out * prod(k) (PyTorch's rule).
// Throws ValueError for fewer than 2 dims.
struct Fans {
  std::int64_t in = 0, out = 0;
};
Fans compute_fans(const Shape& weight_shape);

// In-place fills of a floating tensor on any device (no autograd: parameters are leaves). Each
// random fill reserves its blocks of `gen`, so successive fills draw independent numbers.
void uniform_(const Tensor& t, double lo, double hi, Generator& gen);  // U[lo, hi)
void normal_(const Tensor& t, double mean, double stddev, Generator& gen);
void constant_(const Tensor& t, double value);
inline void zeros_(const Tensor& t) {
  constant_(t, 0.0);
}
inline void ones_(const Tensor& t) {
  constant_(t, 1.0);
}

// He et al. (2015): std = gain / sqrt(fan) with gain = calculate_gain(nonlinearity, a) and fan
// chosen by `mode`. The uniform form draws U(-sqrt(3) std, sqrt(3) std). Defaults as PyTorch's.
void kaiming_uniform_(const Tensor& t, Generator& gen, double a = 0.0, FanMode mode = FanMode::FanIn,
                      Nonlinearity nonlinearity = Nonlinearity::LeakyReLU);
void kaiming_normal_(const Tensor& t, Generator& gen, double a = 0.0, FanMode mode = FanMode::FanIn,
                     Nonlinearity nonlinearity = Nonlinearity::LeakyReLU);

// PyTorch's default reset_parameters of Linear and Conv2d: weight by kaiming_uniform_ with
// a = sqrt(5), which is U(-1/sqrt(fan_in), 1/sqrt(fan_in)); then bias (when defined) from the
// same interval. Weight first, then bias, as PyTorch draws them.
void default_weight_bias_(const Tensor& weight, const Tensor& bias, Generator& gen);

// A fresh 64-bit seed drawn from `gen` (it reserves one block): how a model derives the private
// generator its Dropout layers use from the generator that initialised it.
std::uint64_t draw_seed(Generator& gen);

}  // namespace init
}  // namespace nn
}  // namespace kdcu
