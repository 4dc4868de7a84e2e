// A device buffer of the emulator's tests of cuBLAS and cuDNN, taken straight from the emulated
// device memory (emu/memory.h) and filled / read back with memcpy: emulated device memory is host
// memory, so these tests need no runtime call besides the library's own.
#pragma once

#include <cstring>
#include <vector>

#include "emu/memory.h"

namespace kdcu {
namespace testing {

template <class T>
class Dev {
 public:
  explicit Dev(size_t n) : n_(n), p_(static_cast<T*>(emu::device_alloc(n * sizeof(T)))) {}
  explicit Dev(const std::vector<T>& v) : Dev(v.size()) { set(v); }
  ~Dev() { emu::device_free(p_); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  T* get() const { return p_; }
  void set(const std::vector<T>& v) { std::memcpy(p_, v.data(), v.size() * sizeof(T)); }
  std::vector<T> host() const {
    std::vector<T> v(n_);
    std::memcpy(v.data(), p_, n_ * sizeof(T));
    return v;
  }

 private:
  size_t n_;
  T* p_;
};

}  // namespace testing
}  // namespace kdcu
