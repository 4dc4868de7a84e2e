// Tensor: a cheap, shared handle to contiguous row-major storage with a shape, a dtype and a
// device, plus the autograd fields (requires_grad, grad, the node that produced it).
// Reshape/flatten/slice along dim 0 are views of the same storage; every other layout change
// copies. Moving between devices or dtypes is explicit (`to`); nothing copies behind your back.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/storage.h"

namespace kdcu {

struct Node;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  std::int64_t offset = 0;  // in elements, from the start of storage
  Shape shape;
  DType dtype = DType::F32;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // accumulated by backward (leaves only)
  std::shared_ptr<Node> grad_fn;     // the node that produced this tensor; null for leaves
  // Set only by autograd on a gradient in flight whose every element equals this host-known value
  // (backward()'s implicit seed 1 and affine images of it), so an op's backward can skip a
  // multiply. Cleared before a gradient becomes a leaf's .grad; see autograd::uniform_value.
  std::optional<double> uniform_grad;
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (no storage); `defined()` is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  std::int64_t dim() const { return static_cast<std::int64_t>(shape().size()); }
  std::int64_t size(std::int64_t d) const;  // negative d counts from the end
  std::int64_t numel() const { return kdcu::numel(shape()); }
  DType dtype() const;
  Device device() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype()); }

  // Typed pointer to the first element; throws DTypeError unless T matches dtype().
  template <class T>
  T* data() const;
  void* raw_data() const;

  // --- autograd ---
  bool requires_grad() const;
  // Marks a leaf as a parameter whose gradient backward() accumulates; throws on non-leaves.
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const;
  const std::shared_ptr<Node>& grad_fn() const;
  Tensor grad() const;  // undefined until a backward pass reached this leaf
  void set_grad(const Tensor& g);
  void zero_grad();  // drops the gradient (the next backward writes a fresh one)
  // Reverse-mode pass from this tensor. `grad` defaults to 1 for a one-element tensor.
  void backward(const Tensor& grad = Tensor()) const;
  // The same storage with no autograd history.
  Tensor detach() const;

  // --- views and copies (differentiable) ---
  Tensor reshape(const Shape& shape) const;  // one extent may be -1; always a view here
  Tensor view(const Shape& shape) const { return reshape(shape); }
  Tensor flatten(std::int64_t start_dim = 0, std::int64_t end_dim = -1) const;
  Tensor slice(std::int64_t begin, std::int64_t end) const;  // rows [begin, end) of dim 0, a view
  Tensor to(const Device& device) const;
  Tensor to(DType dtype) const;
  Tensor clone() const;
  // Moves this tensor's data (and its .grad) to `device` in place: every handle to this tensor
  // sees the move. For parameters and buffers (modules, optimizers keep their handles); no autograd.
  void move_to_(const Device& device);

  // --- element access for tests and logs: copies from the device when needed, converts to T ---
  template <class T>
  T item() const;  // the single element of a one-element tensor
  template <class T>
  T at(std::initializer_list<std::int64_t> index) const;
  template <class T>
  std::vector<T> to_vector() const;
  std::string str(std::int64_t max_elements = 64) const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  const TensorImpl& checked() const;
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// A fresh tensor with uninitialised storage (no autograd history).
Tensor empty(const Shape& shape, DType dtype = DType::F32, const Device& device = Device::cpu());

// Throws DTypeError/DeviceError/ShapeError naming `op` when a tensor is undefined or not as expected.
void check_defined(const Tensor& t, const char* op, const char* name);
void check_same_device(const Tensor& a, const Tensor& b, const char* op);
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op);
void check_same_shape(const Tensor& a, const Tensor& b, const char* op);
void check_floating(const Tensor& t, const char* op);

// Copies src into dst (same dtype and element count, devices may differ); no autograd.
void copy_into(const Tensor& dst, const Tensor& src);

}  // namespace kdcu
