// Normalisation statistics and the crop/flip/normalise pass over one image. The pass reads each
// output row from one source row (or the padding), so it is a table lookup per pixel.
#include "datasets/transforms.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "datasets/sampling.h"

namespace kdcu {
namespace datasets {

Normalization no_normalization(std::int64_t channels) {
  return {std::vector<double>(static_cast<size_t>(channels), 0.0),
          std::vector<double>(static_cast<size_t>(channels), 1.0)};
}

Normalization compute_normalization(const Dataset& d) {
  require<ValueError>(d.size() > 0 && d.channels > 0, "compute_normalization: dataset '", d.name, "' is empty");
  const auto c = static_cast<size_t>(d.channels);
  const auto plane = static_cast<size_t>(d.height * d.width);
  // Exact: 255^2 * 2^40 pixels still fits in 64 bits.
  std::vector<std::uint64_t> sum(c, 0), sum_sq(c, 0);
  for (std::int64_t i = 0; i < d.size(); ++i) {
    const std::uint8_t* img = d.image(i);
    for (size_t ch = 0; ch < c; ++ch) {
      std::uint64_t s = 0, s2 = 0;
      for (size_t p = 0; p < plane; ++p) {
        const std::uint64_t v = img[ch * plane + p];
        s += v;
        s2 += v * v;
      }
      sum[ch] += s;
      sum_sq[ch] += s2;
    }
  }
  Normalization n;
  const double count = static_cast<double>(d.size()) * static_cast<double>(plane);
  for (size_t ch = 0; ch < c; ++ch) {
    const double mean = static_cast<double>(sum[ch]) / count;
    const double var = std::max(0.0, static_cast<double>(sum_sq[ch]) / count - mean * mean);
    require<ValueError>(var > 0.0, "compute_normalization: channel ", ch, " of '", d.name,
                        "' is constant (std 0); give the statistics explicitly");
    n.mean.push_back(mean / 255.0);
    n.std.push_back(std::sqrt(var) / 255.0);
  }
  return n;
}

std::vector<float> normalization_table(const Normalization& n, std::int64_t channels) {
  const auto sized = [&](size_t s) { return s == 1 || static_cast<std::int64_t>(s) == channels; };
  require<ValueError>(sized(n.mean.size()) && sized(n.std.size()), "normalisation: expected 1 or ", channels,
                      " values of mean and std, found ", n.mean.size(), " and ", n.std.size());
  std::vector<float> table(static_cast<size_t>(channels) * 256);
  for (std::int64_t c = 0; c < channels; ++c) {
    const double mean = n.mean.size() == 1 ? n.mean[0] : n.mean[static_cast<size_t>(c)];
    const double sd = n.std.size() == 1 ? n.std[0] : n.std[static_cast<size_t>(c)];
    require<ValueError>(sd > 0.0 && std::isfinite(sd) && std::isfinite(mean), "normalisation: channel ", c,
                        " has mean ", mean, " and std ", sd, ", expected finite values and std > 0");
    for (int x = 0; x < 256; ++x) table[static_cast<size_t>(c * 256 + x)] = static_cast<float>((x / 255.0 - mean) / sd);
  }
  return table;
}

AugmentParams sample_augment(const Augmentation& a, std::uint64_t seed, std::int64_t epoch, std::int64_t index) {
  AugmentParams p{a.crop_padding, a.crop_padding, false};
  if (!a.enabled()) return p;
  const philox::Words w =
      draw(seed, Stream::Augment, static_cast<std::uint64_t>(epoch), static_cast<std::uint64_t>(index));
  if (a.crop_padding > 0) {
    const auto span = static_cast<std::uint32_t>(2 * a.crop_padding + 1);
    p.dy = below(w.w[0], span);
    p.dx = below(w.w[1], span);
  }
  p.flip = a.horizontal_flip && (w.w[2] >> 31) != 0;
  return p;
}

void transform_image(const std::uint8_t* src, std::int64_t channels, std::int64_t height, std::int64_t width,
                     const float* table, std::int64_t pad, const AugmentParams& p, float* dst) {
  const bool identity = p.dy == pad && p.dx == pad && !p.flip;
  for (std::int64_t c = 0; c < channels; ++c) {
    const float* lut = table + c * 256;
    const std::uint8_t* plane = src + c * height * width;
    float* out = dst + c * height * width;
    if (identity) {
      for (std::int64_t i = 0; i < height * width; ++i) out[i] = lut[plane[i]];
      continue;
    }
    for (std::int64_t y = 0; y < height; ++y) {
      float* row_out = out + y * width;
      const std::int64_t sy = y + p.dy - pad;
      if (sy < 0 || sy >= height) {
        for (std::int64_t x = 0; x < width; ++x) row_out[x] = lut[0];
        continue;
      }
      const std::uint8_t* row = plane + sy * width;
      for (std::int64_t x = 0; x < width; ++x) {
        const std::int64_t sx = (p.flip ? width - 1 - x : x) + p.dx - pad;
        row_out[x] = (sx >= 0 && sx < width) ? lut[row[sx]] : lut[0];
      }
    }
  }
}

}  // namespace datasets
}  // namespace kdcu
