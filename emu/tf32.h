// TF32 as tensor cores read f32 operands (8-bit exponent, 10 explicit mantissa bits), for the
// emulated cuBLAS and cuDNN: round to nearest, ties to even; Inf and NaN pass unchanged (a NaN
// must not round into an Inf).
#pragma once

#include <cstdint>
#include <cstring>

namespace kdcu {
namespace emu {

inline float round_tf32(float v) {
  std::uint32_t bits;
  std::memcpy(&bits, &v, 4);
  if ((bits & 0x7f800000u) == 0x7f800000u) return v;
  bits += 0xfffu + ((bits >> 13) & 1u);
  bits &= ~0x1fffu;
  std::memcpy(&v, &bits, 4);
  return v;
}

}  // namespace emu
}  // namespace kdcu
