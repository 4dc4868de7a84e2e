// distill/soft_label_cache.h: the soft-label file is built when missing, read back (same logits)
// when its key matches, and rebuilt when the teacher's weights, the data or the normalisation
// changed, or when the file is corrupt, truncated or foreign; a write that cannot happen is an
// IoError; gather_rows checks its arguments; the key tracks the teacher's weights and buffers.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/factories.h"
#include "core/safetensors.h"
#include "datasets/dataset.h"
#include "datasets/transforms.h"
#include "distill/evaluate.h"
#include "distill/soft_label_cache.h"
#include "nn/model.h"
#include "tests/support/temp_dir.h"
#include "tests/support/checks.h"

namespace kdcu {
namespace {

namespace fs = std::filesystem;
using distill::SoftLabels;
using testing::throws_with;

constexpr std::int64_t kSide = 8, kClasses = 4;

struct TempDir : testing::TempDir {
  TempDir() : testing::TempDir("cache") {}
};

datasets::Dataset make_set(std::int64_t n, std::uint64_t seed) {
  datasets::Dataset d;
  d.name = "synthetic";
  d.channels = 1;
  d.height = d.width = kSide;
  d.num_classes = kClasses;
  Generator gen(seed);
  for (float v : rand({n * kSide * kSide}, gen).to_vector<float>())
    d.images.push_back(static_cast<std::uint8_t>(v * 255.0f));
  for (std::int64_t i = 0; i < n; ++i) d.labels.push_back(i % kClasses);
  d.validate();
  return d;
}

nn::ModelPtr make(const std::string& name, std::uint64_t seed) {
  nn::ModelConfig c;
  c.in_channels = 1;
  c.image_size = kSide;
  c.num_classes = kClasses;
  Generator gen(seed);
  return nn::create_model(name, c, gen);
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

struct DistillCacheFile : ::testing::Test {
  TempDir tmp;
  datasets::Dataset data = make_set(24, 1);
  datasets::Normalization norm = datasets::compute_normalization(data);
  nn::ModelPtr teacher = make("cnn_small", 2);
  std::string path = tmp.file("cache/sub/soft.safetensors");  // directories created on demand

  SoftLabels load() { return distill::load_or_build_soft_labels(path, *teacher, data, norm, Device::cpu()); }
};

TEST_F(DistillCacheFile, BuildsThenReads) {
  const SoftLabels first = load();
  EXPECT_TRUE(first.built);
  EXPECT_EQ(first.why, "no cache file");
  EXPECT_EQ(first.path, path);
  EXPECT_TRUE(fs::exists(path));
  EXPECT_GE(first.seconds, 0.0);
  ASSERT_EQ(first.logits.shape(), (Shape{24, kClasses}));
  EXPECT_EQ(first.logits.dtype(), DType::F32);
  EXPECT_TRUE(first.logits.device().is_cpu());
  EXPECT_TRUE(testing::all_close(first.logits, distill::predict_logits(*teacher, data, norm, Device::cpu())));
  // The file: format and key in the metadata.
  const SafetensorsFile f = load_safetensors(path);
  EXPECT_EQ(f.metadata.at("format"), "kdcu-soft-labels-1");
  EXPECT_EQ(f.metadata.at("key"), distill::soft_label_key(*teacher, data, norm).str());

  const SoftLabels second = load();
  EXPECT_FALSE(second.built);
  EXPECT_EQ(second.why, "");
  EXPECT_EQ(second.logits.to_vector<float>(), first.logits.to_vector<float>());  // bitwise
  // Reading does not rewrite the file.
  const auto mtime = fs::last_write_time(path);
  (void)load();
  EXPECT_EQ(fs::last_write_time(path), mtime);
}

TEST_F(DistillCacheFile, TeacherWeightChangeMakesItStale) {
  const SoftLabels first = load();
  {
    autograd::NoGradGuard ng;
    const Tensor w = teacher->named_parameters().back().second;  // fc2.bias
    copy_into(w, full(w.shape(), 0.25, w.dtype()));
  }
  const SoftLabels second = load();
  EXPECT_TRUE(second.built);
  EXPECT_TRUE(starts_with(second.why, "stale: ")) << second.why;
  EXPECT_NE(second.why.find("weights="), std::string::npos) << second.why;
  EXPECT_NE(second.logits.to_vector<float>(), first.logits.to_vector<float>());
  EXPECT_TRUE(testing::all_close(second.logits, distill::predict_logits(*teacher, data, norm, Device::cpu())));
  // The rebuilt file is the fresh one.
  EXPECT_FALSE(load().built);
}

TEST_F(DistillCacheFile, DataOrNormalizationChangeMakesItStale) {
  (void)load();
  datasets::Dataset pixel = data;
  pixel.images[100] = static_cast<std::uint8_t>(pixel.images[100] + 1);
  SoftLabels s = distill::load_or_build_soft_labels(path, *teacher, pixel, norm, Device::cpu());
  EXPECT_TRUE(s.built);
  EXPECT_TRUE(starts_with(s.why, "stale: ")) << s.why;
  EXPECT_NE(s.why.find("data="), std::string::npos);

  datasets::Dataset label = pixel;
  label.labels[3] = (label.labels[3] + 1) % kClasses;  // labels are part of the data key too
  s = distill::load_or_build_soft_labels(path, *teacher, label, norm, Device::cpu());
  EXPECT_TRUE(s.built);
  EXPECT_TRUE(starts_with(s.why, "stale: ")) << s.why;

  datasets::Normalization other = norm;
  other.mean[0] += 1e-9;  // "exactly": any change counts
  s = distill::load_or_build_soft_labels(path, *teacher, label, other, Device::cpu());
  EXPECT_TRUE(s.built);
  EXPECT_TRUE(starts_with(s.why, "stale: ")) << s.why;
  EXPECT_NE(s.why.find("norm=mean,"), std::string::npos);

  // Fewer samples.
  const datasets::Dataset fewer = datasets::subset(label, {0, 1, 2, 3}, "fewer");
  s = distill::load_or_build_soft_labels(path, *teacher, fewer, other, Device::cpu());
  EXPECT_TRUE(s.built);
  EXPECT_EQ(s.logits.shape(), (Shape{4, kClasses}));
  EXPECT_FALSE(distill::load_or_build_soft_labels(path, *teacher, fewer, other, Device::cpu()).built);
}

TEST_F(DistillCacheFile, CorruptTruncatedOrForeignFilesAreReplaced) {
  const SoftLabels good = load();
  const std::string bytes = read_bytes(path);
  const auto check_rebuilt = [&](const std::string& what, const std::string& why_prefix) {
    SCOPED_TRACE(what);
    SoftLabels s;
    ASSERT_NO_THROW(s = load());
    EXPECT_TRUE(s.built);
    EXPECT_TRUE(starts_with(s.why, why_prefix)) << s.why;
    EXPECT_EQ(s.logits.to_vector<float>(), good.logits.to_vector<float>());
    EXPECT_FALSE(load().built) << "the replacement is a valid cache";
  };
  write_bytes(path, "this is not a safetensors file at all");
  check_rebuilt("garbage", "unreadable: ");
  write_bytes(path, bytes.substr(0, bytes.size() / 2));
  check_rebuilt("truncated data", "unreadable: ");
  write_bytes(path, bytes.substr(0, 12));
  check_rebuilt("truncated header", "unreadable: ");
  write_bytes(path, "");
  check_rebuilt("empty", "unreadable: ");
  // A valid safetensors file that is not a soft-label file.
  save_safetensors(path, {{"weight", zeros({2, 2})}}, {});
  check_rebuilt("foreign", "not a kdcu soft-label file");
  // The right key, the wrong logits.
  const std::string key = distill::soft_label_key(*teacher, data, norm).str();
  save_safetensors(path, {{"logits", zeros({3, kClasses})}}, {{"format", "kdcu-soft-labels-1"}, {"key", key}});
  check_rebuilt("wrong shape", "the logits tensor is missing or has the wrong shape");
  save_safetensors(path, {{"logits", zeros({24, kClasses}, DType::F64)}},
                   {{"format", "kdcu-soft-labels-1"}, {"key", key}});
  check_rebuilt("wrong dtype", "the logits tensor is missing or has the wrong shape");
  save_safetensors(path, {{"other", zeros({24, kClasses})}}, {{"format", "kdcu-soft-labels-1"}, {"key", key}});
  check_rebuilt("no logits", "the logits tensor is missing");
}

TEST_F(DistillCacheFile, UnwritablePathIsIoError) {
  write_bytes(tmp.file("a_file"), "x");
  const std::string bad = tmp.file("a_file/soft.safetensors");  // its "directory" is a file
  EXPECT_THROW((void)distill::load_or_build_soft_labels(bad, *teacher, data, norm, Device::cpu()), IoError);
}

TEST_F(DistillCacheFile, DataThatDoesNotFitIsValueError) {
  const auto big = [] {
    nn::ModelConfig c;
    c.in_channels = 1;
    c.image_size = 16;
    c.num_classes = kClasses;
    Generator gen(0);
    return nn::create_model("cnn_small", c, gen);
  }();
  EXPECT_TRUE(throws_with<ValueError>(
      [&] { (void)distill::load_or_build_soft_labels(path, *big, data, norm, Device::cpu()); }, "expects 1x16x16"));
}

// ------------------------------------------------------------------------------ gather_rows

TEST(DistillCache, GatherRowsPicksRowsByIndex) {
  const Tensor table = from_vector<float>({0, 1, 10, 11, 20, 21, 30, 31}, {4, 2});
  const Tensor rows = distill::gather_rows(table, from_vector<std::int64_t>({2, 0, 2, 3}));
  EXPECT_EQ(rows.shape(), (Shape{4, 2}));
  EXPECT_EQ(rows.to_vector<float>(), (std::vector<float>{20, 21, 0, 1, 20, 21, 30, 31}));
  EXPECT_EQ(distill::gather_rows(table, from_vector<std::int64_t>(std::vector<std::int64_t>{}, {0})).shape(),
            (Shape{0, 2}));
}

TEST(DistillCache, GatherRowsErrors) {
  const Tensor table = zeros({4, 3});
  EXPECT_TRUE(throws_with<ValueError>(
      [&] {
        (void)distill::gather_rows(table, from_vector<std::int64_t>({0, 4}));
      },
      "gather_rows: index 4 at position 1 is outside [0, 4)"));
  EXPECT_TRUE(throws_with<ValueError>([&] { (void)distill::gather_rows(table, from_vector<std::int64_t>({-1})); },
                                      "index -1 at position 0"));
  EXPECT_TRUE(throws_with<DTypeError>(
      [&] {
        (void)distill::gather_rows(zeros({4, 3}, DType::F64), from_vector<std::int64_t>({0}));
      },
      "expected an f32 table and i64 indices; found f64 and i64"));
  EXPECT_TRUE(throws_with<DTypeError>([&] { (void)distill::gather_rows(table, from_vector<float>({0.0f})); },
                                      "found f32 and f32"));
  EXPECT_TRUE(throws_with<ShapeError>([&] { (void)distill::gather_rows(zeros({12}), from_vector<std::int64_t>({0})); },
                                      "expected table [N, C] and indices [B]"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        (void)distill::gather_rows(table, from_vector<std::int64_t>({0, 1}, {1, 2}));
      },
      "indices [B]"));
  EXPECT_THROW((void)distill::gather_rows(Tensor(), from_vector<std::int64_t>({0})), std::exception);
}

// ------------------------------------------------------------------------------ the key

TEST(DistillCache, KeyTracksWeightsBuffersDataAndNorm) {
  const datasets::Dataset data = make_set(8, 3);
  const datasets::Normalization norm = datasets::no_normalization(1);
  const auto a = make("cnn_small", 5), same = make("cnn_small", 5), other = make("cnn_small", 6);
  const distill::SoftLabelKey ka = distill::soft_label_key(*a, data, norm);
  EXPECT_TRUE(ka == distill::soft_label_key(*same, data, norm));
  EXPECT_FALSE(ka == distill::soft_label_key(*other, data, norm));
  EXPECT_NE(ka.weights_hash, distill::soft_label_key(*other, data, norm).weights_hash);
  EXPECT_EQ(ka.data_hash, distill::soft_label_key(*other, data, norm).data_hash);
  EXPECT_EQ(ka.samples, 8);
  EXPECT_EQ(ka.classes, kClasses);
  EXPECT_EQ(ka.teacher, "cnn_small(in_channels=1 image_size=8 num_classes=4 width_mult=1 dtype=f32)");
  const std::string s = ka.str();
  EXPECT_EQ(s.rfind("teacher=cnn_small(", 0), 0u) << s;
  EXPECT_NE(s.find(" samples=8 classes=4"), std::string::npos) << s;
  EXPECT_NE(s.find(" norm=mean,0;std,1"), std::string::npos) << s;
  // One weight element.
  {
    autograd::NoGradGuard ng;
    const Tensor w = same->named_parameters().front().second;
    std::vector<float> v = w.to_vector<float>();
    v[0] += 1.0f;
    copy_into(w, from_vector<float>(v, w.shape()));
  }
  EXPECT_FALSE(ka == distill::soft_label_key(*same, data, norm));
  // BatchNorm running statistics are part of what the logits depend on.
  const auto r1 = make("resnet20", 7), r2 = make("resnet20", 7);
  EXPECT_TRUE(distill::soft_label_key(*r1, data, norm) == distill::soft_label_key(*r2, data, norm));
  for (const auto& [n, b] : r2->named_buffers())
    if (n.find("running_mean") != std::string::npos) {
      fill_(b, 0.5);
      break;
    }
  EXPECT_FALSE(distill::soft_label_key(*r1, data, norm) == distill::soft_label_key(*r2, data, norm));
}

}  // namespace
}  // namespace kdcu
