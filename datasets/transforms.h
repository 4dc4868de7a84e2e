// Per-image transforms applied when a batch is built: u8 -> f32 with per-channel normalisation
// ((x / 255 - mean[c]) / std[c], one lookup per pixel), random crop with zero padding and
// horizontal flip. The random parameters are a pure function of (seed, epoch, sample index).
#pragma once

#include <cstdint>
#include <vector>

#include "datasets/dataset.h"

namespace kdcu {
namespace datasets {

// Mean and standard deviation per channel, on the [0, 1] scale (pixel / 255).
struct Normalization {
  std::vector<double> mean, std;
};

// Identity (mean 0, std 1: x / 255) for `channels` channels.
Normalization no_normalization(std::int64_t channels);

// The population mean and standard deviation of each channel over every pixel of `d` (exact
// integer sums, so the result does not depend on the order or thread count). ValueError when
// `d` is empty or a channel is constant (std 0 cannot normalise).
Normalization compute_normalization(const Dataset& d);

// A table of 256 values per channel, [channels, 256]: table[c * 256 + x] = (x / 255 - mean[c]) /
// std[c]. `n` may hold one value for all channels. ValueError for a size other than 1 or
// `channels`, or a std that is not positive and finite.
std::vector<float> normalization_table(const Normalization& n, std::int64_t channels);

struct Augmentation {
  // Random crop: pad each side by `crop_padding` pixels of value 0 (black, before normalisation,
  // as torchvision's RandomCrop(padding=p) before Normalize does) and cut an H x W window at a
  // uniform offset in [0, 2p] x [0, 2p]. 0 = no crop.
  std::int64_t crop_padding = 0;
  bool horizontal_flip = false;  // mirror left-right with probability 1/2 (after the crop)
  bool enabled() const { return crop_padding > 0 || horizontal_flip; }
};

// The drawn parameters of one sample: window offset into the padded image, and the flip. The
// identity is {pad, pad, false}.
struct AugmentParams {
  std::int64_t dy = 0, dx = 0;
  bool flip = false;
};

// Parameters for sample `index` in epoch `epoch` (Philox stream Augment; see sampling.h):
// dy from word 0, dx from word 1, flip from the top bit of word 2.
AugmentParams sample_augment(const Augmentation& a, std::uint64_t seed, std::int64_t epoch, std::int64_t index);

// One image u8 [C, H, W] -> f32 [C, H, W]: out(c, y, x) = table[c][padded(c, y + dy, x')] with
// x' = (flip ? W - 1 - x : x) + dx, where padded is the image inside a border of `pad` zeros.
void transform_image(const std::uint8_t* src, std::int64_t channels, std::int64_t height, std::int64_t width,
                     const float* table, std::int64_t pad, const AugmentParams& p, float* dst);

}  // namespace datasets
}  // namespace kdcu
