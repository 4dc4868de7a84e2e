// Typed exceptions thrown by kdcu library code, and the helpers that build their messages.
// Library code never prints and continues and never aborts: it throws one of these, naming
// what was expected and what was found.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace kdcu {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
class ShapeError : public Error {  // incompatible or invalid shapes
 public:
  using Error::Error;
};
class DTypeError : public Error {  // unsupported or mismatched element types
 public:
  using Error::Error;
};
class DeviceError : public Error {  // mixed devices, CUDA unavailable, unknown device names
 public:
  using Error::Error;
};
class ValueError : public Error {  // an argument outside its domain (negative size, T <= 0, ...)
 public:
  using Error::Error;
};
class IoError : public Error {  // files: missing, truncated, corrupt
 public:
  using Error::Error;
};
class AutogradError : public Error {  // misuse of the graph (backward twice, non-scalar root, ...)
 public:
  using Error::Error;
};
class CudaError : public DeviceError {  // a failed CUDA / cuBLAS / cuDNN call, with call, file and line
 public:
  using DeviceError::DeviceError;
};

// Concatenates anything that has an operator<< into one string.
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

// Throws E with the concatenated message when `ok` is false. The arguments are evaluated always (so
// never dereference something the condition guards) but only formatted on failure.
template <class E = Error, class... Args>
void require(bool ok, const Args&... args) {
  if (!ok) throw E(cat(args...));
}

}  // namespace kdcu
