// Gradient clipping by the global norm, as torch.nn.utils.clip_grad_norm_: the norm of all the
// gradients taken as one vector, total = (sum_i |g_i|^p)^(1/p) (max_i |g_i| for p = inf), summed
// in f64 in a fixed order (the same on any thread count); if total > max_norm (precisely: if
// max_norm / (total + 1e-6) < 1) every gradient is scaled in place by max_norm / (total + 1e-6).
#pragma once

#include <limits>
#include <vector>

#include "nn/module.h"

namespace kdcu {
namespace nn {

inline constexpr double kInfNorm = std::numeric_limits<double>::infinity();

// The total gradient norm (before clipping) over `params` whose .grad is defined (others are
// skipped; 0 when none has a gradient). norm_type: > 0, or kInfNorm. max_norm: > 0, or infinite
// (only measure). Difference from PyTorch (error_if_nonfinite = False): a NaN or infinite total
// leaves the gradients untouched (PyTorch would scale them by NaN or 0) and is returned as is, so
// the caller decides, typically by skipping the step. Invalid arguments are ValueErrors.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0);
double clip_grad_norm(const NamedTensors& params, double max_norm, double norm_type = 2.0);

// The same total norm without clipping.
double grad_norm(const std::vector<Tensor>& params, double norm_type = 2.0);

}  // namespace nn
}  // namespace kdcu
