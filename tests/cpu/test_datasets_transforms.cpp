// Transforms and splits: normalisation statistics against hand-computed values, the crop/flip
// pass against a naive pad-crop-flip reference for every offset, the seeded augmentation draws
// and permutations, and the reproducible train/validation split.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <set>
#include <vector>

#include "core/error.h"
#include "datasets/dataset.h"
#include "datasets/sampling.h"
#include "datasets/transforms.h"
#include "tests/support/checks.h"

namespace kdcu {
namespace datasets {
namespace {

using kdcu::testing::throws_with;

// n images of C x H x W with pixel = (7 * i + 3 * p) % 256 and label i % classes.
Dataset synthetic(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, std::int64_t classes = 3) {
  Dataset d;
  d.name = "synthetic";
  d.source = "memory";
  d.channels = c;
  d.height = h;
  d.width = w;
  d.num_classes = classes;
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t p = 0; p < c * h * w; ++p) d.images.push_back(static_cast<std::uint8_t>((7 * i + 3 * p) % 256));
    d.labels.push_back(i % classes);
  }
  return d;
}

TEST(TransformNormalization, StatisticsMatchHandComputation) {
  Dataset d = synthetic(2, 2, 1, 2);
  d.images = {0, 255, 10, 20, /* image 1 */ 255, 255, 30, 40};  // channel 0: 0, 255, 255, 255; channel 1: 10..40
  const Normalization n = compute_normalization(d);
  ASSERT_EQ(n.mean.size(), 2u);
  const double m0 = 765.0 / 4 / 255, v0 = (3 * 255.0 * 255.0 / 4) / (255.0 * 255.0) - m0 * m0;
  EXPECT_NEAR(n.mean[0], m0, 1e-12);
  EXPECT_NEAR(n.std[0], std::sqrt(v0), 1e-12);
  EXPECT_NEAR(n.mean[1], 25.0 / 255, 1e-12);
  EXPECT_NEAR(n.std[1], std::sqrt(125.0) / 255, 1e-12);  // population variance of 10, 20, 30, 40
  Dataset flat = d;
  std::fill(flat.images.begin(), flat.images.end(), std::uint8_t{9});
  EXPECT_TRUE(throws_with<ValueError>([&] { compute_normalization(flat); }, "channel 0 of 'synthetic' is constant"));
}

TEST(TransformNormalization, TableMapsEveryByte) {
  const std::vector<float> t = normalization_table({{0.5, 0.25}, {0.5, 2.0}}, 2);
  ASSERT_EQ(t.size(), 512u);
  EXPECT_FLOAT_EQ(t[0], -1.0f);
  EXPECT_FLOAT_EQ(t[255], 1.0f);
  EXPECT_FLOAT_EQ(t[256 + 51], static_cast<float>((51 / 255.0 - 0.25) / 2.0));
  const std::vector<float> broadcast = normalization_table({{0.0}, {1.0}}, 3);
  EXPECT_FLOAT_EQ(broadcast[2 * 256 + 255], 1.0f);
  EXPECT_TRUE(throws_with<ValueError>(
      [] {
        normalization_table({{0.1, 0.2}, {1.0, 1.0}}, 3);
      },
      "expected 1 or 3 values of mean and std, found 2 and 2"));
  EXPECT_TRUE(throws_with<ValueError>([] { normalization_table({{0.1}, {0.0}}, 1); }, "std > 0"));
}

// The obvious way: build the zero-padded image, cut the window, mirror it, look up.
std::vector<float> naive(const std::vector<std::uint8_t>& src, std::int64_t c, std::int64_t h, std::int64_t w,
                         const std::vector<float>& table, std::int64_t pad, const AugmentParams& p) {
  const std::int64_t ph = h + 2 * pad, pw = w + 2 * pad;
  std::vector<std::uint8_t> padded(static_cast<size_t>(c * ph * pw), 0);
  for (std::int64_t k = 0; k < c; ++k)
    for (std::int64_t y = 0; y < h; ++y)
      for (std::int64_t x = 0; x < w; ++x)
        padded[static_cast<size_t>((k * ph + y + pad) * pw + x + pad)] = src[static_cast<size_t>((k * h + y) * w + x)];
  std::vector<float> out(static_cast<size_t>(c * h * w));
  for (std::int64_t k = 0; k < c; ++k)
    for (std::int64_t y = 0; y < h; ++y)
      for (std::int64_t x = 0; x < w; ++x) {
        const std::int64_t cx = p.flip ? w - 1 - x : x;
        const std::uint8_t v = padded[static_cast<size_t>((k * ph + y + p.dy) * pw + cx + p.dx)];
        out[static_cast<size_t>((k * h + y) * w + x)] = table[static_cast<size_t>(k * 256 + v)];
      }
  return out;
}

TEST(TransformAugment, CropAndFlipMatchNaiveReferenceForEveryOffset) {
  const Dataset d = synthetic(1, 2, 3, 4);
  const std::vector<std::uint8_t> src(d.images.begin(), d.images.end());
  const std::vector<float> table = normalization_table({{0.3, 0.6}, {0.2, 0.4}}, 2);
  const std::int64_t pad = 2;
  int checked = 0;
  for (std::int64_t dy = 0; dy <= 2 * pad; ++dy)
    for (std::int64_t dx = 0; dx <= 2 * pad; ++dx)
      for (bool flip : {false, true}) {
        const AugmentParams p{dy, dx, flip};
        std::vector<float> out(src.size(), std::nanf(""));
        transform_image(src.data(), 2, 3, 4, table.data(), pad, p, out.data());
        ASSERT_EQ(out, naive(src, 2, 3, 4, table, pad, p)) << "dy " << dy << " dx " << dx << " flip " << flip;
        ++checked;
      }
  EXPECT_EQ(checked, 50);
}

TEST(TransformAugment, HandCheckedFlipAndShift) {
  // One 2x3 gray image [[1, 2, 3], [4, 5, 6]] with the identity table scaled by 255.
  const std::vector<std::uint8_t> img = {1, 2, 3, 4, 5, 6};
  std::vector<float> table(256);
  for (int i = 0; i < 256; ++i) table[static_cast<size_t>(i)] = static_cast<float>(i);
  std::vector<float> out(6);
  transform_image(img.data(), 1, 2, 3, table.data(), 1, {1, 1, true}, out.data());
  EXPECT_EQ(out, (std::vector<float>{3, 2, 1, 6, 5, 4}));
  transform_image(img.data(), 1, 2, 3, table.data(), 1, {0, 2, false}, out.data());  // window one up, one right
  EXPECT_EQ(out, (std::vector<float>{0, 0, 0, 2, 3, 0}));
}

TEST(TransformAugment, DrawsAreSeededInRangeAndBalanced) {
  const Augmentation a{4, true};
  std::set<std::int64_t> dys;
  int flips = 0;
  for (std::int64_t i = 0; i < 10000; ++i) {
    const AugmentParams p = sample_augment(a, 7, 3, i);
    ASSERT_GE(p.dy, 0);
    ASSERT_LE(p.dy, 8);
    ASSERT_GE(p.dx, 0);
    ASSERT_LE(p.dx, 8);
    dys.insert(p.dy);
    flips += p.flip;
    const AugmentParams again = sample_augment(a, 7, 3, i);
    ASSERT_TRUE(again.dy == p.dy && again.dx == p.dx && again.flip == p.flip);
  }
  EXPECT_EQ(dys.size(), 9u);
  EXPECT_GT(flips, 4700);
  EXPECT_LT(flips, 5300);
  int same_other_epoch = 0, same_other_seed = 0;
  for (std::int64_t i = 0; i < 200; ++i) {
    const AugmentParams p = sample_augment(a, 7, 3, i), e = sample_augment(a, 7, 4, i), s = sample_augment(a, 8, 3, i);
    same_other_epoch += p.dy == e.dy && p.dx == e.dx && p.flip == e.flip;
    same_other_seed += p.dy == s.dy && p.dx == s.dx && p.flip == s.flip;
  }
  EXPECT_LT(same_other_epoch, 20);  // 1/162 by chance
  EXPECT_LT(same_other_seed, 20);
  const AugmentParams none = sample_augment(Augmentation{}, 7, 3, 0);
  EXPECT_TRUE(none.dy == 0 && none.dx == 0 && !none.flip);
  const AugmentParams flip_only = sample_augment(Augmentation{0, true}, 7, 3, 0);
  EXPECT_TRUE(flip_only.dy == 0 && flip_only.dx == 0);
}

TEST(DatasetSampling, PermutationIsSeededAndUniform) {
  const std::vector<std::int64_t> p = permutation(1000, 5, Stream::Shuffle, 0);
  std::vector<std::int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::int64_t> iota(1000);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_EQ(sorted, iota);
  EXPECT_NE(p, iota);
  EXPECT_EQ(p, permutation(1000, 5, Stream::Shuffle, 0));
  EXPECT_NE(p, permutation(1000, 5, Stream::Shuffle, 1));
  EXPECT_NE(p, permutation(1000, 5, Stream::Split, 0));
  // Where element 0 lands among 4 places over 4000 epochs: about 1000 each.
  std::vector<int> where(4, 0);
  for (std::uint64_t e = 0; e < 4000; ++e) {
    const std::vector<std::int64_t> q = permutation(4, 11, Stream::Shuffle, e);
    ++where[static_cast<size_t>(std::find(q.begin(), q.end(), 0) - q.begin())];
  }
  for (int count : where) EXPECT_NEAR(count, 1000, 150);
  EXPECT_TRUE(permutation(0, 1, Stream::Shuffle, 0).empty());
}

TEST(DatasetSplit, ReproducibleDisjointAndComplete) {
  const Dataset d = synthetic(50, 1, 2, 2, 5);
  const TrainValSplit a = split_train_val(d, std::int64_t{10}, 42);
  const TrainValSplit b = split_train_val(d, std::int64_t{10}, 42);
  const TrainValSplit c = split_train_val(d, std::int64_t{10}, 43);
  EXPECT_EQ(a.val_indices, b.val_indices);
  EXPECT_NE(a.val_indices, c.val_indices);
  EXPECT_EQ(a.val.size(), 10);
  EXPECT_EQ(a.train.size(), 40);
  std::vector<std::int64_t> all = a.train_indices;
  all.insert(all.end(), a.val_indices.begin(), a.val_indices.end());
  std::sort(all.begin(), all.end());
  for (std::int64_t i = 0; i < 50; ++i) EXPECT_EQ(all[static_cast<size_t>(i)], i);
  EXPECT_TRUE(std::is_sorted(a.val_indices.begin(), a.val_indices.end()));
  for (size_t k = 0; k < a.val_indices.size(); ++k) {
    const std::int64_t i = a.val_indices[k];
    EXPECT_EQ(a.val.labels[k], d.labels[static_cast<size_t>(i)]);
    EXPECT_TRUE(std::equal(d.image(i), d.image(i) + 4, a.val.image(static_cast<std::int64_t>(k))));
  }
  EXPECT_EQ(a.val.num_classes, 5);
  a.train.validate();
  EXPECT_EQ(split_train_val(d, 0.2, 42).val_indices, a.val_indices);  // 0.2 * 50 = 10
  EXPECT_TRUE(throws_with<ValueError>([&] { split_train_val(d, std::int64_t{50}, 1); },
                                      "validation count must be in (0, 50), found 50"));
  EXPECT_TRUE(throws_with<ValueError>([&] { split_train_val(d, 1.0, 1); }, "fraction must be in (0, 1)"));
  EXPECT_TRUE(throws_with<ValueError>([&] { subset(d, {0, 50}, "s"); }, "index 50 is outside [0, 50)"));
}

TEST(DatasetValidate, InconsistentFieldsAreValueErrors) {
  Dataset d = synthetic(3, 1, 2, 2);
  d.validate();
  d.labels[1] = 3;
  EXPECT_TRUE(throws_with<ValueError>([&] { d.validate(); }, "sample 1 has label 3, expected [0, 3)"));
  d.labels[1] = 1;
  d.images.pop_back();
  EXPECT_TRUE(throws_with<ValueError>([&] { d.validate(); }, "expected 12 image bytes"));
}

}  // namespace
}  // namespace datasets
}  // namespace kdcu
