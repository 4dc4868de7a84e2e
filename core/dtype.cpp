#include "core/dtype.h"

namespace kdcu {

size_t dtype_size(DType d) {
  switch (d) {
    case DType::F32:
      return 4;
    case DType::F64:
    case DType::I64:
      return 8;
  }
  throw DTypeError("dtype_size: unknown dtype");
}

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32:
      return "f32";
    case DType::F64:
      return "f64";
    case DType::I64:
      return "i64";
  }
  return "unknown";
}

DType parse_dtype(const std::string& name) {
  if (name == "f32" || name == "float32") return DType::F32;
  if (name == "f64" || name == "float64") return DType::F64;
  if (name == "i64" || name == "int64") return DType::I64;
  throw DTypeError(cat("unknown dtype '", name, "': expected f32, f64 or i64"));
}

}  // namespace kdcu
