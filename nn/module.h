// Module: the base of every layer and model. It owns parameters (tensors that require grad),
// buffers (state such as BatchNorm's running statistics) and child modules, and names them with
// PyTorch's dotted state_dict names ("layer1.0.conv1.weight", "bn1.running_mean"), in PyTorch's
// order (a module's own parameters, then its own buffers, then each child in registration order).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace kdcu {
namespace nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The layer's computation. Call modules through operator(), which also feeds `summary`.
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x);

  // Multiply-accumulates x2 per image ("FLOPs") of this module's own work for one forward with
  // these input/output shapes (batch dim included; divide by it for per-image). Containers and
  // parameter-free shape ops report 0.
  virtual double flops(const Shape& in, const Shape& out) const;

  const std::string& type_name() const { return type_name_; }

  // --- parameters, buffers, children (recursive, dotted names) ---
  NamedTensors named_parameters() const;
  NamedTensors named_buffers() const;
  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, Module*>> named_modules() const;  // this module first, as ""
  std::vector<std::pair<std::string, Module*>> named_children() const;
  std::int64_t num_parameters() const;  // elements, like sum(p.numel() for p in m.parameters())

  // PyTorch's state_dict: every parameter and buffer by dotted name (the live tensors, not copies).
  NamedTensors state_dict() const;
  // Copies values into this module's tensors (handles stay valid, so optimizers keep working).
  // strict: every name must match both ways and every shape must agree, else ValueError listing
  // the missing, unexpected and wrongly shaped names. Not strict: loads what matches and returns
  // the report. A dtype or device difference is converted.
  struct LoadReport {
    std::vector<std::string> missing, unexpected, mismatched;  // mismatched: "name: expected [..], found [..]"
    bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
    std::string str() const;
  };
  LoadReport load_state_dict(const NamedTensors& state, bool strict = true);
  // What load_state_dict would report, changing nothing.
  LoadReport compare_state_dict(const NamedTensors& state) const;

  // --- modes and devices ---
  void train(bool on = true);  // recursive
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void to(const Device& device);  // moves every parameter and buffer in place
  Device device() const;          // of the first parameter or buffer; CPU when there are none
  void zero_grad();

 protected:
  // Register in the order PyTorch's module would, so state_dict order matches too.
  Tensor& register_parameter(const std::string& name, Tensor t);  // sets requires_grad
  Tensor& register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }
  // Called by train(); layers whose behaviour depends on the mode need not override anything.
  virtual void on_train(bool) {}

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void collect(const std::string& prefix, bool params, bool buffers, NamedTensors& out) const;

  std::string type_name_;
  NamedTensors params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

using ModulePtr = std::shared_ptr<Module>;

}  // namespace nn
}  // namespace kdcu
