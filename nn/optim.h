// Optimizers with PyTorch 1.13's torch.optim semantics (single-tensor code path, maximize = False,
// amsgrad = False), updating parameters in place under no-grad. With d the gradient of one
// parameter p, and per-parameter state created on that parameter's first update:
//
//   SGD:    d = g + wd p                                   (wd != 0)
//           b = d on p's first update, else b = mu b + (1 - dampening) d      (mu != 0)
//           d = nesterov ? d + mu b : b                    (mu != 0)
//           p = p - lr d
//   Adam:   t = t + 1 (p's own update count); d = g + wd p (L2, wd != 0)
//           m = b1 m + (1 - b1) d;  v = b2 v + (1 - b2) d^2
//           p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//   AdamW:  as Adam, but the decay is decoupled: p = p (1 - lr wd) first, and d = g.
//
// Parameters whose .grad is undefined are skipped (their state, and Adam's t, do not advance).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "nn/module.h"

namespace kdcu {
namespace nn {

// What an optimizer saves and restores. `tensors`: copies of the per-parameter state, named
// "<param name>.<key>" with PyTorch's keys: "momentum_buffer" (SGD with momentum), "step" (an i64
// scalar, CPU), "exp_avg", "exp_avg_sq" (Adam, AdamW); a parameter that was never updated has
// none. `metadata`: "optimizer" (SGD, Adam, AdamW), "steps" (calls to step()), "lr" and the other
// hyper-parameters as exact decimal strings (doubles round-trip bitwise). The two members have the
// types of core/safetensors.h, so save_safetensors(path, s.tensors, s.metadata) writes one and
// OptimizerState{file.tensors, file.metadata} reads one back; to share a file with model weights,
// prefix the names and keys.
struct OptimizerState {
  NamedTensors tensors;
  std::map<std::string, std::string> metadata;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient, in place (the tensors' handles and storage
  // stay the same), recording nothing for autograd. Then steps() grows by one.
  void step();
  // Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True), Module::zero_grad).
  void zero_grad();

  double lr() const { return lr_; }
  void set_lr(double lr);                        // ValueError unless lr is finite and >= 0
  std::int64_t steps() const { return steps_; }  // calls to step() since construction (or as loaded)
  const std::string& type_name() const { return type_name_; }
  const NamedTensors& parameters() const { return params_; }

  // Copies of the state (see OptimizerState), safe to keep while training goes on.
  OptimizerState state_dict() const;
  // Restores a state_dict() of the same kind of optimizer over parameters of the same names and
  // shapes: step count, lr and hyper-parameters (as torch.optim does) and every state tensor, so
  // that training continues bitwise as if never interrupted. A dtype or device difference is
  // converted. Anything that does not match (kind, a missing or unexpected name, a shape, a missing
  // or malformed hyper-parameter) is a ValueError naming it, and leaves this optimizer unchanged.
  void load_state_dict(const OptimizerState& state);

 protected:
  using Hyper = std::map<std::string, std::string>;

  // `params`: (name, parameter) pairs such as Module::named_parameters(); names unique, tensors
  // defined, floating, each at most once. Throws ValueError (DTypeError for an integer tensor).
  Optimizer(std::string type_name, NamedTensors params, double lr);

  // The state keys each parameter gets, in the order state_dict() lists them.
  virtual std::vector<std::string> state_keys() const = 0;
  // That state, freshly allocated for `param` (shapes and dtypes are what load_state_dict checks).
  virtual std::vector<Tensor> init_state(const Tensor& param) const = 0;
  // One parameter's update; `first` on its first update (state just made by init_state).
  virtual void update(const Tensor& param, const Tensor& grad, std::vector<Tensor>& state, bool first) = 0;
  // Hyper-parameters other than lr, by name; set_hyper validates all of them before changing any.
  virtual Hyper hyper() const = 0;
  virtual void set_hyper(const Hyper& values) = 0;

  // Exact decimal text for metadata, and its checked inverse (ValueError naming the key).
  static std::string format_double(double x);
  static double parse_double(const Hyper& values, const std::string& key);
  static bool parse_bool(const Hyper& values, const std::string& key);
  // ValueError "<type>: invalid <what> <value> (expected <expected>)" unless ok.
  void check_arg(bool ok, const char* what, double value, const char* expected) const;

 private:
  std::string type_name_;
  NamedTensors params_;
  std::vector<std::vector<Tensor>> state_;  // per parameter; empty until its first update
  double lr_;
  std::int64_t steps_ = 0;
};

// torch.optim.SGD. lr >= 0, momentum >= 0, weight_decay >= 0; nesterov needs momentum > 0 and
// dampening == 0 (PyTorch's rules). The momentum buffer exists only when momentum != 0.
class SGD : public Optimizer {
 public:
  SGD(NamedTensors params, double lr, double momentum = 0.0, double dampening = 0.0, double weight_decay = 0.0,
      bool nesterov = false);
  double momentum() const { return momentum_; }
  double dampening() const { return dampening_; }
  double weight_decay() const { return weight_decay_; }
  bool nesterov() const { return nesterov_; }

 protected:
  std::vector<std::string> state_keys() const override;
  std::vector<Tensor> init_state(const Tensor& param) const override;
  void update(const Tensor& param, const Tensor& grad, std::vector<Tensor>& state, bool first) override;
  Hyper hyper() const override;
  void set_hyper(const Hyper& values) override;

 private:
  void validate(double momentum, double dampening, double weight_decay, bool nesterov) const;
  double momentum_, dampening_, weight_decay_;
  bool nesterov_;
};

// torch.optim.Adam (L2 weight decay added to the gradient). lr >= 0, eps >= 0, betas in [0, 1),
// weight_decay >= 0.
class Adam : public Optimizer {
 public:
  explicit Adam(NamedTensors params, double lr = 1e-3, std::pair<double, double> betas = {0.9, 0.999},
                double eps = 1e-8, double weight_decay = 0.0);
  std::pair<double, double> betas() const { return {beta1_, beta2_}; }
  double eps() const { return eps_; }
  double weight_decay() const { return weight_decay_; }

 protected:
  Adam(const char* type_name, bool decoupled, NamedTensors params, double lr, std::pair<double, double> betas,
       double eps, double weight_decay);
  std::vector<std::string> state_keys() const override;
  std::vector<Tensor> init_state(const Tensor& param) const override;
  void update(const Tensor& param, const Tensor& grad, std::vector<Tensor>& state, bool first) override;
  Hyper hyper() const override;
  void set_hyper(const Hyper& values) override;

 private:
  void validate(double beta1, double beta2, double eps, double weight_decay) const;
  bool decoupled_;
  double beta1_, beta2_, eps_, weight_decay_;
};

// torch.optim.AdamW: Adam with decoupled weight decay (default 1e-2).
class AdamW : public Adam {
 public:
  explicit AdamW(NamedTensors params, double lr = 1e-3, std::pair<double, double> betas = {0.9, 0.999},
                 double eps = 1e-8, double weight_decay = 1e-2);
};

}  // namespace nn
}  // namespace kdcu
