// Philox4x32-10 known answers and the determinism of kdcu's random tensors.
#include <gtest/gtest.h>

#include <cmath>

#include "core/factories.h"
#include "core/philox.h"

namespace kdcu {
namespace {

// Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors).
TEST(Philox, KnownAnswers) {
  {
    const std::uint32_t ctr[4] = {0, 0, 0, 0}, key[2] = {0, 0};
    const philox::Words r = philox::raw(ctr, key);
    EXPECT_EQ(r.w[0], 0x6627e8d5u);
    EXPECT_EQ(r.w[1], 0xe169c58du);
    EXPECT_EQ(r.w[2], 0xbc57ac4cu);
    EXPECT_EQ(r.w[3], 0x9b00dbd8u);
  }
  {
    const std::uint32_t ctr[4] = {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};
    const std::uint32_t key[2] = {0xffffffffu, 0xffffffffu};
    const philox::Words r = philox::raw(ctr, key);
    EXPECT_EQ(r.w[0], 0x408f276du);
    EXPECT_EQ(r.w[1], 0x41c83b0eu);
    EXPECT_EQ(r.w[2], 0xa20bc7c6u);
    EXPECT_EQ(r.w[3], 0x6d5451fdu);
  }
  {
    const std::uint32_t ctr[4] = {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u};
    const std::uint32_t key[2] = {0xa4093822u, 0x299f31d0u};
    const philox::Words r = philox::raw(ctr, key);
    EXPECT_EQ(r.w[0], 0xd16cfe09u);
    EXPECT_EQ(r.w[1], 0x94fdccebu);
    EXPECT_EQ(r.w[2], 0x5001e420u);
    EXPECT_EQ(r.w[3], 0x24126ea1u);
  }
}

TEST(Generator, SameSeedSameNumbersAndStateAdvances) {
  Generator a(42), b(42), c(43);
  const Tensor x = randn({1000}, a), y = randn({1000}, b), z = randn({1000}, c);
  EXPECT_EQ(x.to_vector<float>(), y.to_vector<float>());
  EXPECT_NE(x.to_vector<float>(), z.to_vector<float>());
  EXPECT_EQ(a.offset(), 500u);  // two normals per block
  const Tensor x2 = randn({1000}, a);
  EXPECT_NE(x.to_vector<float>(), x2.to_vector<float>());
  // Restoring the state replays the same draw.
  Generator r(0);
  r.set_state(42, 500);
  EXPECT_EQ(randn({1000}, r).to_vector<float>(), x2.to_vector<float>());
}

TEST(Generator, UniformAndNormalMoments) {
  Generator g(7);
  for (DType dt : {DType::F32, DType::F64}) {
    const std::vector<double> u = rand({200000}, g, dt, Device::cpu(), -1.0, 3.0).to_vector<double>();
    double mean = 0, lo = 1e9, hi = -1e9;
    for (double v : u) mean += v, lo = std::min(lo, v), hi = std::max(hi, v);
    mean /= static_cast<double>(u.size());
    EXPECT_NEAR(mean, 1.0, 0.02);
    EXPECT_GE(lo, -1.0);
    EXPECT_LT(hi, 3.0);
    const std::vector<double> n = randn({200000}, g, dt, Device::cpu(), 2.0, 0.5).to_vector<double>();
    double m = 0, var = 0;
    for (double v : n) m += v;
    m /= static_cast<double>(n.size());
    for (double v : n) var += (v - m) * (v - m);
    var /= static_cast<double>(n.size());
    EXPECT_NEAR(m, 2.0, 0.01);
    EXPECT_NEAR(var, 0.25, 0.01);
  }
}

TEST(Generator, DefaultGeneratorFollowsManualSeed) {
  manual_seed(5);
  const std::vector<float> a = rand({16}).to_vector<float>();
  manual_seed(5);
  EXPECT_EQ(rand({16}).to_vector<float>(), a);
}

}  // namespace
}  // namespace kdcu
