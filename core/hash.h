// FNV-1a 64 (h ^= byte; h *= 0x100000001b3, from 0xcbf29ce484222325): a fast, stable,
// non-cryptographic fingerprint of bytes, for cache keys and test checksums.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace kdcu {

class Fnv1a {
 public:
  Fnv1a& update(const void* data, std::size_t bytes) {
    const auto* p = static_cast<const std::uint8_t*>(data);
    for (std::size_t i = 0; i < bytes; ++i) {
      h_ ^= p[i];
      h_ *= 0x100000001b3ull;
    }
    return *this;
  }
  Fnv1a& update(const std::string& s) { return update(s.data(), s.size()); }
  std::uint64_t digest() const { return h_; }

 private:
  std::uint64_t h_ = 0xcbf29ce484222325ull;
};

inline std::uint64_t fnv1a(const void* data, std::size_t bytes) {
  return Fnv1a().update(data, bytes).digest();
}

}  // namespace kdcu
