#include "core/tensor.h"

#include <cstring>
#include <iomanip>
#include <sstream>

#include "core/autograd.h"
#include "core/cuda_runtime.h"
#include "core/factories.h"
#include "kernels/cpu/fill.h"
#include "kernels/cuda/fill.h"
#include "kernels/dispatch.h"

namespace kdcu {

// ---------------------------------------------------------------- checks

void check_defined(const Tensor& t, const char* op, const char* name) {
  require<ValueError>(t.defined(), op, ": ", name, " is an undefined tensor");
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  require<DeviceError>(a.device() == b.device(), op, ": tensors are on different devices (", a.device().str(), " and ",
                       b.device().str(), "); move one with .to(device)");
}

void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  require<DTypeError>(a.dtype() == b.dtype(), op, ": dtypes differ (", dtype_name(a.dtype()), " and ",
                      dtype_name(b.dtype()), "); convert one with .to(dtype)");
}

void check_same_shape(const Tensor& a, const Tensor& b, const char* op) {
  require<ShapeError>(a.shape() == b.shape(), op, ": expected equal shapes, found ", shape_str(a.shape()), " and ",
                      shape_str(b.shape()));
}

void check_floating(const Tensor& t, const char* op) {
  require<DTypeError>(is_floating(t.dtype()), op, ": expected a floating tensor (f32 or f64), found ",
                      dtype_name(t.dtype()));
}

// ---------------------------------------------------------------- basics

Tensor empty(const Shape& shape, DType dtype, const Device& device) {
  check_shape(shape, "empty");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(numel(shape)) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

const TensorImpl& Tensor::checked() const {
  if (!impl_) throw ValueError("use of an undefined tensor");
  return *impl_;
}

const Shape& Tensor::shape() const {
  return checked().shape;
}
std::int64_t Tensor::size(std::int64_t d) const {
  return shape()[normalize_dim(d, dim(), "size")];
}
DType Tensor::dtype() const {
  return checked().dtype;
}
Device Tensor::device() const {
  return checked().storage->device();
}

void* Tensor::raw_data() const {
  const TensorImpl& t = checked();
  auto* base = static_cast<char*>(t.storage->data());
  return base ? base + t.offset * static_cast<std::int64_t>(dtype_size(t.dtype)) : nullptr;
}

template <class T>
T* Tensor::data() const {
  require<DTypeError>(dtype() == dtype_of<T>, "data<", dtype_name(dtype_of<T>), ">() on a tensor of dtype ",
                      dtype_name(dtype()));
  return static_cast<T*>(raw_data());
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template std::int64_t* Tensor::data<std::int64_t>() const;

// ---------------------------------------------------------------- autograd fields

bool Tensor::requires_grad() const {
  return checked().requires_grad;
}

Tensor& Tensor::requires_grad_(bool on) {
  if (!is_leaf())
    throw AutogradError(cat("requires_grad_() on a non-leaf tensor (it was produced by '", checked().grad_fn->name,
                            "'); detach() it first"));
  require<DTypeError>(!on || is_floating(dtype()), "requires_grad_: only floating tensors can require grad, found ",
                      dtype_name(dtype()));
  impl_->requires_grad = on;
  return *this;
}

bool Tensor::is_leaf() const {
  return checked().grad_fn == nullptr;
}
const std::shared_ptr<Node>& Tensor::grad_fn() const {
  return checked().grad_fn;
}
Tensor Tensor::grad() const {
  return Tensor(checked().grad);
}

void Tensor::set_grad(const Tensor& g) {
  checked();
  if (g.defined()) {
    check_same_shape(*this, g, "set_grad");
    check_same_dtype(*this, g, "set_grad");
    check_same_device(*this, g, "set_grad");
  }
  impl_->grad = g.impl_ptr();
}

void Tensor::zero_grad() {
  checked();
  impl_->grad.reset();
}

void Tensor::backward(const Tensor& grad) const {
  autograd::run_backward(*this, grad);
}

Tensor Tensor::detach() const {
  const TensorImpl& t = checked();
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = t.storage;
  impl->offset = t.offset;
  impl->shape = t.shape;
  impl->dtype = t.dtype;
  return Tensor(std::move(impl));
}

// ---------------------------------------------------------------- views

namespace {
Tensor alias(const Tensor& src, Shape shape, std::int64_t extra_offset) {
  Tensor v = src.detach();
  v.impl()->shape = std::move(shape);
  v.impl()->offset += extra_offset;
  return v;
}
}  // namespace

Tensor Tensor::reshape(const Shape& target) const {
  Shape shape = target;
  std::int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      require<ShapeError>(infer < 0, "reshape: more than one -1 in ", shape_str(target));
      infer = static_cast<std::int64_t>(i);
    } else {
      require<ShapeError>(shape[i] >= 0, "reshape: negative extent in ", shape_str(target));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    require<ShapeError>(known != 0 && numel() % known == 0, "reshape: cannot infer -1 in ", shape_str(target), " for ",
                        numel(), " elements (from ", shape_str(this->shape()), ")");
    shape[static_cast<size_t>(infer)] = numel() / known;
  }
  require<ShapeError>(kdcu::numel(shape) == numel(), "reshape: cannot view ", shape_str(this->shape()), " (", numel(),
                      " elements) as ", shape_str(target), " (", kdcu::numel(shape), " elements)");
  Tensor out = alias(*this, shape, 0);
  const Shape from = this->shape();
  autograd::record(out, "reshape", {*this},
                   [from](const Tensor& g, const std::vector<bool>&) -> Grads { return {g.reshape(from)}; });
  return out;
}

Tensor Tensor::flatten(std::int64_t start_dim, std::int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  const std::int64_t s = normalize_dim(start_dim, dim(), "flatten"), e = normalize_dim(end_dim, dim(), "flatten");
  require<ShapeError>(s <= e, "flatten: start_dim ", start_dim, " comes after end_dim ", end_dim);
  Shape shape(this->shape().begin(), this->shape().begin() + s);
  std::int64_t n = 1;
  for (std::int64_t d = s; d <= e; ++d) n *= this->shape()[static_cast<size_t>(d)];
  shape.push_back(n);
  shape.insert(shape.end(), this->shape().begin() + e + 1, this->shape().end());
  return reshape(shape);
}

Tensor Tensor::slice(std::int64_t begin, std::int64_t end) const {
  require<ShapeError>(dim() >= 1, "slice: needs at least one dim, found a 0-d tensor");
  const std::int64_t rows = shape()[0];
  require<ShapeError>(0 <= begin && begin <= end && end <= rows, "slice: rows [", begin, ", ", end,
                      ") out of range for dim 0 of size ", rows);
  Shape shape = this->shape();
  shape[0] = end - begin;
  const std::int64_t row = rows ? numel() / rows : 0;
  Tensor out = alias(*this, shape, begin * row);
  const Shape from = this->shape();
  autograd::record(out, "slice", {*this}, [from, begin, end](const Tensor& g, const std::vector<bool>&) -> Grads {
    Tensor full = zeros(from, g.dtype(), g.device());
    copy_into(full.slice(begin, end), g);
    return {full};
  });
  return out;
}

// ---------------------------------------------------------------- copies

void copy_into(const Tensor& dst, const Tensor& src) {
  check_defined(dst, "copy_into", "dst");
  check_defined(src, "copy_into", "src");
  check_same_dtype(dst, src, "copy_into");
  require<ShapeError>(dst.numel() == src.numel(), "copy_into: ", shape_str(src.shape()), " into ",
                      shape_str(dst.shape()), " (element counts differ)");
  const size_t bytes = src.nbytes();
  const Device from = src.device(), to = dst.device();
  if (from.is_cpu() && to.is_cpu()) {
    if (bytes) std::memcpy(dst.raw_data(), src.raw_data(), bytes);
  } else if (from.is_cpu()) {
    cuda::copy_host_to_device(dst.raw_data(), src.raw_data(), bytes, to.index);
  } else if (to.is_cpu()) {
    cuda::copy_device_to_host(dst.raw_data(), src.raw_data(), bytes, from.index);
  } else if (from == to) {
    cuda::copy_device_to_device(dst.raw_data(), src.raw_data(), bytes, to.index);
  } else {  // between two GPUs: through the host, explicitly
    Tensor staging = empty(src.shape(), src.dtype(), Device::cpu());
    copy_into(staging, src);
    copy_into(dst, staging);
  }
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  copy_into(out, *this);
  autograd::record(out, "clone", {*this}, [](const Tensor& g, const std::vector<bool>&) -> Grads { return {g}; });
  return out;
}

Tensor Tensor::to(const Device& target) const {
  if (target == device()) return *this;
  if (target.is_cuda()) cuda::require_device(target);
  Tensor out = empty(shape(), dtype(), target);
  copy_into(out, *this);
  const Device from = device();
  autograd::record(out, "to_device", {*this},
                   [from](const Tensor& g, const std::vector<bool>&) -> Grads { return {g.to(from)}; });
  return out;
}

void Tensor::move_to_(const Device& target) {
  if (target == device()) return;
  const Tensor moved = detach().to(target);
  impl_->storage = moved.impl()->storage;
  impl_->offset = moved.impl()->offset;
  if (impl_->grad) Tensor(impl_->grad).move_to_(target);
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  Tensor out = empty(shape(), target, device());
  const std::int64_t n = numel();
  const Device dev = device();
  visit_any(dtype(), [&](auto src_zero) {
    using S = decltype(src_zero);
    visit_any(target, [&](auto dst_zero) {
      using D = decltype(dst_zero);
      kernels::on_device(
          dev, [&](auto) { kernels::cpu::cast<S, D>(data<S>(), out.data<D>(), n); },
          [&](auto) { kernels::cuda::cast<S, D>(data<S>(), out.data<D>(), n, dev.index); });
    });
  });
  if (is_floating(target) && is_floating(dtype())) {
    const DType from = dtype();
    autograd::record(out, "to_dtype", {*this},
                     [from](const Tensor& g, const std::vector<bool>&) -> Grads { return {g.to(from)}; });
  }
  return out;
}

// ---------------------------------------------------------------- element access

template <class T>
std::vector<T> Tensor::to_vector() const {
  const Tensor host = device().is_cpu() ? *this : detach().to(Device::cpu());
  std::vector<T> out(static_cast<size_t>(numel()));
  visit_any(dtype(), [&](auto zero) {
    using S = decltype(zero);
    const S* p = host.data<S>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<T>(p[i]);
  });
  return out;
}

template <class T>
T Tensor::item() const {
  require<ShapeError>(numel() == 1, "item(): expected a one-element tensor, found shape ", shape_str(shape()));
  return to_vector<T>()[0];
}

template <class T>
T Tensor::at(std::initializer_list<std::int64_t> index) const {
  require<ShapeError>(static_cast<std::int64_t>(index.size()) == dim(), "at(): ", index.size(),
                      " indices for a tensor of shape ", shape_str(shape()));
  std::int64_t linear = 0, d = 0;
  for (std::int64_t i : index) {
    const std::int64_t extent = shape()[static_cast<size_t>(d)];
    require<ShapeError>(i >= 0 && i < extent, "at(): index ", i, " out of range for dim ", d, " of size ", extent);
    linear = linear * extent + i;
    ++d;
  }
  Tensor element = detach().reshape({-1}).slice(linear, linear + 1);
  return element.to_vector<T>()[0];
}

#define KDCU_INSTANTIATE(T)                             \
  template std::vector<T> Tensor::to_vector<T>() const; \
  template T Tensor::item<T>() const;                   \
  template T Tensor::at<T>(std::initializer_list<std::int64_t>) const;
KDCU_INSTANTIATE(float)
KDCU_INSTANTIATE(double)
KDCU_INSTANTIATE(std::int64_t)
#undef KDCU_INSTANTIATE

std::string Tensor::str(std::int64_t max_elements) const {
  if (!defined()) return "tensor(undefined)";
  std::ostringstream os;
  os << "tensor(";
  const std::vector<double> v = to_vector<double>();
  const std::int64_t shown = std::min<std::int64_t>(max_elements, static_cast<std::int64_t>(v.size()));
  const std::int64_t last = dim() ? shape().back() : 1;
  os << std::setprecision(6);
  for (std::int64_t i = 0; i < shown; ++i) {
    if (i && last && i % last == 0) os << " |";
    os << (i ? " " : "") << v[static_cast<size_t>(i)];
  }
  if (shown < static_cast<std::int64_t>(v.size())) os << " ... (" << v.size() - shown << " more)";
  os << ", shape=" << shape_str(shape()) << ", dtype=" << dtype_name(dtype()) << ", device=" << device().str();
  if (requires_grad()) os << ", requires_grad";
  os << ")";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  return os << t.str();
}

}  // namespace kdcu
