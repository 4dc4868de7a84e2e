// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
// counter-based generator, so element i of any random tensor is a pure function of
// (seed, block index), identical on the CPU and in CUDA kernels and independent of thread count.
//
// kdcu's mapping, fixed so that the same seed gives the same numbers everywhere:
//   key     = (seed & 0xffffffff, seed >> 32)
//   counter = (block & 0xffffffff, block >> 32, 0, 0)   -> 4 random 32-bit words per block
//   uniform f32, element i: word i%4 of block b0+i/4, u = (w >> 8) * 2^-24            in [0, 1)
//   uniform f64, element i: words 2(i%2), 2(i%2)+1 of block b0+i/2, 53 bits            in [0, 1)
//   normal,      element i: block b0+i/2; u1, u2 from its first two uniforms (f32: words 0, 1;
//                f64: word pairs (0,1), (2,3)); Box-Muller r = sqrt(-2 ln(1-u1)),
//                even i -> r cos(2 pi u2), odd i -> r sin(2 pi u2)
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define KDCU_HOST_DEVICE __host__ __device__
#else
#define KDCU_HOST_DEVICE
#endif

namespace kdcu {
namespace philox {

struct Words {
  std::uint32_t w[4];
};

// Philox4x32-10 of a 128-bit counter under a 64-bit key.
KDCU_HOST_DEVICE inline Words raw(const std::uint32_t ctr[4], const std::uint32_t key[2]) {
  std::uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = 0xD2511F53ull * c0;
    const std::uint64_t p1 = 0xCD9E8D57ull * c2;
    c0 = static_cast<std::uint32_t>(p1 >> 32) ^ c1 ^ k0;
    c1 = static_cast<std::uint32_t>(p1);
    c2 = static_cast<std::uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c3 = static_cast<std::uint32_t>(p0);
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Words{{c0, c1, c2, c3}};
}

// Block `index` of the stream keyed by `seed`.
KDCU_HOST_DEVICE inline Words block(std::uint64_t seed, std::uint64_t index) {
  const std::uint32_t ctr[4] = {static_cast<std::uint32_t>(index), static_cast<std::uint32_t>(index >> 32), 0, 0};
  const std::uint32_t key[2] = {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)};
  return raw(ctr, key);
}

KDCU_HOST_DEVICE inline float to_unit_f32(std::uint32_t w) {
  return static_cast<float>(w >> 8) * 0x1.0p-24f;
}
KDCU_HOST_DEVICE inline double to_unit_f64(std::uint32_t a, std::uint32_t b) {
  return (static_cast<double>(a >> 5) * 67108864.0 + static_cast<double>(b >> 6)) * 0x1.0p-53;
}

// Element i of a uniform [0, 1) draw that starts at block b0.
KDCU_HOST_DEVICE inline float uniform_f32(std::uint64_t seed, std::uint64_t b0, std::uint64_t i) {
  return to_unit_f32(block(seed, b0 + i / 4).w[i % 4]);
}
KDCU_HOST_DEVICE inline double uniform_f64(std::uint64_t seed, std::uint64_t b0, std::uint64_t i) {
  const Words r = block(seed, b0 + i / 2);
  const unsigned j = static_cast<unsigned>(i % 2) * 2;
  return to_unit_f64(r.w[j], r.w[j + 1]);
}

// Element i of a standard normal draw that starts at block b0.
KDCU_HOST_DEVICE inline float normal_f32(std::uint64_t seed, std::uint64_t b0, std::uint64_t i) {
  const Words r = block(seed, b0 + i / 2);
  const float u1 = to_unit_f32(r.w[0]), u2 = to_unit_f32(r.w[1]);
  const float rad = sqrtf(-2.0f * logf(1.0f - u1));
  const float angle = 6.2831853071795864769f * u2;
  return (i % 2 == 0) ? rad * cosf(angle) : rad * sinf(angle);
}
KDCU_HOST_DEVICE inline double normal_f64(std::uint64_t seed, std::uint64_t b0, std::uint64_t i) {
  const Words r = block(seed, b0 + i / 2);
  const double u1 = to_unit_f64(r.w[0], r.w[1]), u2 = to_unit_f64(r.w[2], r.w[3]);
  const double rad = sqrt(-2.0 * log(1.0 - u1));
  const double angle = 6.283185307179586476925 * u2;
  return (i % 2 == 0) ? rad * cos(angle) : rad * sin(angle);
}

// Blocks one draw of n elements consumes.
inline std::uint64_t blocks_uniform_f32(std::uint64_t n) {
  return (n + 3) / 4;
}
inline std::uint64_t blocks_two_per_block(std::uint64_t n) {
  return (n + 1) / 2;
}

}  // namespace philox
}  // namespace kdcu
