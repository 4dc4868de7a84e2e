// Device-resident training data on CUDA: the row gather (forward and backward, f32/f64/i64,
// awkward sizes) equals the CPU kernel exactly, and ResidentLoader batches kept on the GPU equal
// the host DataLoader's CPU batches bit for bit (images, labels, indices, extras; shuffle,
// partial last batch, drop_last, several epochs). Every device allocation starts as NaN, so an
// unwritten element fails.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/cuda_runtime.h"
#include "core/factories.h"
#include "core/storage.h"
#include "datasets/loader.h"
#include "datasets/transforms.h"
#include "distill/resident_data.h"
#include "distill/soft_label_cache.h"
#include "ops/gather.h"
#include "tests/support/checks.h"
#include "tests/support/cuda_skip.h"

namespace kdcu {
namespace {

const Device kGpu = Device::cuda();

std::string bytes_of(const Tensor& t) {
  const Tensor c = t.to(Device::cpu());
  return std::string(static_cast<const char*>(c.raw_data()), c.nbytes());
}

TEST(CudaResident, IndexRowsMatchesCpuExactly) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator g(71);
  const std::vector<Shape> shapes = {{1}, {9}, {7, 1}, {33, 17}, {5, 3, 5, 7}, {2, 4097}, {1000, 10}};
  for (DType dt : {DType::F32, DType::F64, DType::I64}) {
    for (const Shape& shape : shapes) {
      const std::int64_t n = shape[0];
      const Tensor x = dt == DType::I64 ? randn(shape, g, DType::F64).to(DType::I64) : randn(shape, g, dt);
      for (std::int64_t rows : {std::int64_t{0}, std::int64_t{1}, n, 3 * n + 1, std::int64_t{257}}) {
        std::vector<std::int64_t> iv;
        for (std::int64_t k = 0; k < rows; ++k) iv.push_back((k * 13 + 5) % n);  // repeats when rows > n
        const Tensor idx = from_vector<std::int64_t>(iv, {rows});
        const std::string what = std::string(dtype_name(dt)) + " " + shape_str(shape) + " rows " + std::to_string(rows);
        Tensor xc = x.clone(), xd = x.to(kGpu);
        const bool grad = dt != DType::I64;
        if (grad) {
          xc.requires_grad_();
          xd.requires_grad_();
        }
        const Tensor yc = ops::index_rows(xc, idx), yd = ops::index_rows(xd, idx.to(kGpu));
        EXPECT_EQ(yd.device(), kGpu) << what;
        EXPECT_EQ(bytes_of(yd), bytes_of(yc)) << what;
        if (!grad) continue;
        const Tensor seed = randn(yc.shape(), g, dt);
        yc.backward(seed);
        yd.backward(seed.to(kGpu));
        EXPECT_EQ(bytes_of(xd.grad()), bytes_of(xc.grad())) << what << " (backward: same order, no atomics)";
      }
    }
  }
}

TEST(CudaResident, BatchesOnTheGpuEqualTheCpuLoaders) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);
  struct Case {
    std::int64_t n, channels, side, batch;
    bool shuffle, drop_last;
  };
  for (const Case& c : std::vector<Case>{{37, 1, 6, 8, true, false},
                                         {37, 3, 5, 8, false, true},
                                         {4100, 1, 28, 256, true, false},
                                         {3, 3, 4, 64, true, false}}) {
    datasets::Dataset d;
    d.name = "noise";
    d.channels = c.channels;
    d.height = d.width = c.side;
    d.num_classes = 10;
    Generator g(c.n);
    for (const float v : rand({c.n * c.channels * c.side * c.side}, g).to_vector<float>())
      d.images.push_back(static_cast<std::uint8_t>(255.0f * v));
    for (std::int64_t i = 0; i < c.n; ++i) d.labels.push_back(i % 10);
    auto data = std::make_shared<const datasets::Dataset>(d);
    datasets::LoaderOptions o;
    o.batch_size = c.batch;
    o.shuffle = c.shuffle;
    o.drop_last = c.drop_last;
    o.seed = 8;
    o.normalization = datasets::compute_normalization(d);
    const Tensor table = randn({c.n, 10}, g, DType::F32);
    datasets::LoaderOptions host_o = o;
    host_o.transform = [table](datasets::Batch& b) { b.extras.push_back(distill::gather_rows(table, b.indices)); };
    datasets::DataLoader host(data, host_o);
    datasets::LoaderOptions gpu_o = o;
    gpu_o.device = kGpu;
    distill::TrainBatches gpu(data, gpu_o, distill::DataResidency::Auto, {table});
    ASSERT_TRUE(gpu.resident()) << gpu.decision().why;
    for (std::int64_t epoch : {0, 1, 4}) {
      host.start_epoch(epoch);
      gpu.start_epoch(epoch);
      datasets::Batch hb, gb;
      while (host.next(hb)) {
        const std::string what =
            "n " + std::to_string(c.n) + " epoch " + std::to_string(epoch) + " batch " + std::to_string(hb.number);
        ASSERT_TRUE(gpu.next(gb)) << what;
        EXPECT_EQ(gb.images.device(), kGpu) << what;
        EXPECT_EQ(gb.labels.device(), kGpu) << what;
        EXPECT_EQ(gb.indices.device(), kGpu) << what;
        EXPECT_EQ(gb.number, hb.number) << what;
        ASSERT_EQ(gb.images.shape(), hb.images.shape()) << what;
        EXPECT_EQ(bytes_of(gb.images), bytes_of(hb.images)) << what;
        EXPECT_EQ(bytes_of(gb.labels), bytes_of(hb.labels)) << what;
        EXPECT_EQ(bytes_of(gb.indices), bytes_of(hb.indices)) << what;
        ASSERT_EQ(gb.extras.size(), 1u) << what;
        EXPECT_EQ(gb.extras[0].device(), kGpu) << what;
        EXPECT_EQ(bytes_of(gb.extras[0]), bytes_of(hb.extras[0])) << what;
      }
      EXPECT_FALSE(gpu.next(gb));
    }
  }
}

TEST(CudaResident, MemoryInfoIsSaneAndSmallDataIsResident) {
  KDCU_REQUIRE_GPU();
  const cuda::MemoryInfo m = cuda::memory_info(0);
  EXPECT_GT(m.total_bytes, 0);
  EXPECT_GT(m.free_bytes, 0);
  EXPECT_LE(m.free_bytes, m.total_bytes);
  datasets::Dataset d;
  d.name = "tiny";
  d.channels = 1;
  d.height = d.width = 4;
  d.num_classes = 2;
  d.images.assign(8 * 16, 7);
  d.labels = {0, 1, 0, 1, 0, 1, 0, 1};
  datasets::LoaderOptions o;
  o.device = kGpu;
  EXPECT_TRUE(distill::decide_residency(distill::DataResidency::Auto, d, o, {}).resident) << "a few bytes fit";
}

}  // namespace
}  // namespace kdcu
