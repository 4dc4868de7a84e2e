// Element types of tensors and the helpers that map them to C++ types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"

namespace kdcu {

enum class DType : std::uint8_t { F32, F64, I64 };

size_t dtype_size(DType d);
const char* dtype_name(DType d);  // "f32", "f64", "i64"
DType parse_dtype(const std::string& name);
inline bool is_floating(DType d) {
  return d == DType::F32 || d == DType::F64;
}

template <class T>
struct DTypeOf;
template <>
struct DTypeOf<float> {
  static constexpr DType value = DType::F32;
};
template <>
struct DTypeOf<double> {
  static constexpr DType value = DType::F64;
};
template <>
struct DTypeOf<std::int64_t> {
  static constexpr DType value = DType::I64;
};
template <class T>
inline constexpr DType dtype_of = DTypeOf<T>::value;

// Calls f(T{}) with T the floating type named by d; `op` names the caller in the error.
template <class F>
decltype(auto) visit_floating(DType d, const char* op, F&& f) {
  switch (d) {
    case DType::F32:
      return f(float{});
    case DType::F64:
      return f(double{});
    default:
      throw DTypeError(cat(op, ": expected a floating tensor (f32 or f64), found ", dtype_name(d)));
  }
}

// Calls f(T{}) with T the type named by d, for any dtype.
template <class F>
decltype(auto) visit_any(DType d, F&& f) {
  switch (d) {
    case DType::F32:
      return f(float{});
    case DType::F64:
      return f(double{});
    case DType::I64:
      return f(std::int64_t{});
  }
  throw DTypeError("unknown dtype");
}

}  // namespace kdcu
