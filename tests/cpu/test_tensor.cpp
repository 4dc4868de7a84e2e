// Tensor basics: factories, views, conversions, element access, errors that name what was wrong.
#include <gtest/gtest.h>

#include <cmath>

#include "core/factories.h"
#include "core/tensor.h"
#include "tests/support/checks.h"

namespace kdcu {
namespace {

TEST(Tensor, FactoriesFillShapeAndValues) {
  const Tensor z = zeros({2, 3});
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.dtype(), DType::F32);
  EXPECT_TRUE(z.device().is_cpu());
  for (float v : z.to_vector<float>()) EXPECT_EQ(v, 0.0f);
  for (double v : ones({4}, DType::F64).to_vector<double>()) EXPECT_EQ(v, 1.0);
  for (double v : full({3, 1}, 2.5).to_vector<double>()) EXPECT_EQ(v, 2.5);
  EXPECT_EQ(arange(5).to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(1.0, 2.0, 0.25, DType::F64).to_vector<double>(), (std::vector<double>{1.0, 1.25, 1.5, 1.75}));
  EXPECT_EQ(scalar(3.0).dim(), 0);
  EXPECT_EQ(scalar(3.0).item<double>(), 3.0);
}

TEST(Tensor, FromVectorChecksCount) {
  const Tensor t = from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(t.at<float>({1, 2}), 6.0f);
  EXPECT_EQ(t.at<float>({0, 1}), 2.0f);
  EXPECT_EQ(from_vector<double>({1.0, 2.0}).shape(), (Shape{2}));
  try {
    from_vector<float>({1, 2, 3}, {2, 2});
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("[2, 2] holds 4 elements but 3 were given"), std::string::npos) << e.what();
  }
}

TEST(Tensor, ReshapeAndFlattenAreViews) {
  const Tensor t = arange(24, DType::F32);
  const Tensor r = t.reshape({2, -1, 4});
  EXPECT_EQ(r.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(r.raw_data(), t.raw_data());
  EXPECT_EQ(r.flatten(1).shape(), (Shape{2, 12}));
  EXPECT_EQ(r.flatten().shape(), (Shape{24}));
  EXPECT_EQ(r.flatten(0, 1).shape(), (Shape{6, 4}));
  EXPECT_THROW(t.reshape({5, -1}), ShapeError);
  EXPECT_THROW(t.reshape({-1, -1}), ShapeError);
  EXPECT_THROW(t.reshape({7}), ShapeError);
}

TEST(Tensor, SliceIsABatchView) {
  const Tensor t = arange(0.0, 12.0, 1.0, DType::F64).reshape({4, 3});
  const Tensor s = t.slice(1, 3);
  EXPECT_EQ(s.shape(), (Shape{2, 3}));
  EXPECT_EQ(s.at<double>({0, 0}), 3.0);
  EXPECT_EQ(s.at<double>({1, 2}), 8.0);
  s.data<double>()[0] = 100.0;  // a view: writes show through
  EXPECT_EQ(t.at<double>({1, 0}), 100.0);
  EXPECT_EQ(t.slice(4, 4).numel(), 0);
  EXPECT_THROW(t.slice(2, 5), ShapeError);
  EXPECT_THROW(t.slice(3, 2), ShapeError);
}

TEST(Tensor, DtypeConversionAndClone) {
  const Tensor f = from_vector<float>({1.5f, -2.25f, 3.0f});
  const Tensor d = f.to(DType::F64);
  EXPECT_EQ(d.dtype(), DType::F64);
  EXPECT_EQ(d.to_vector<double>(), (std::vector<double>{1.5, -2.25, 3.0}));
  EXPECT_EQ(f.to(DType::I64).to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, -2, 3}));
  const Tensor c = f.clone();
  EXPECT_NE(c.raw_data(), f.raw_data());
  EXPECT_TRUE(testing::all_close(c, f));
}

TEST(Tensor, WrongDtypeAccessNamesBoth) {
  const Tensor t = zeros({2}, DType::F64);
  try {
    t.data<float>();
    FAIL() << "expected DTypeError";
  } catch (const DTypeError& e) {
    EXPECT_NE(std::string(e.what()).find("data<f32>() on a tensor of dtype f64"), std::string::npos) << e.what();
  }
}

TEST(Tensor, PrintsValuesShapeDtypeDevice) {
  const std::string s = from_vector<float>({1, 2, 3, 4}, {2, 2}).str();
  EXPECT_NE(s.find("1 2 | 3 4"), std::string::npos) << s;
  EXPECT_NE(s.find("shape=[2, 2], dtype=f32, device=cpu"), std::string::npos) << s;
  EXPECT_EQ(Tensor().str(), "tensor(undefined)");
}

TEST(Tensor, UndefinedAndBadArgumentsThrow) {
  EXPECT_THROW(Tensor().shape(), ValueError);
  EXPECT_THROW(zeros({2, -1}), ValueError);
  EXPECT_THROW(arange(0.0, 1.0, 0.0), ValueError);
  EXPECT_THROW(Device::parse("gpu"), DeviceError);
  EXPECT_EQ(Device::parse("cuda:3"), Device::cuda(3));
  EXPECT_EQ(Device::parse("cpu"), Device::cpu());
  EXPECT_EQ(parse_dtype("f64"), DType::F64);
  EXPECT_THROW(parse_dtype("f16"), DTypeError);
}

TEST(Tensor, PoisonedAllocationsReadAsNaN) {
  const bool was = poison_allocations();
  set_poison_allocations(true);
  for (double v : empty({5}).to_vector<double>()) EXPECT_TRUE(std::isnan(v));
  for (std::int64_t v : empty({3}, DType::I64).to_vector<std::int64_t>()) EXPECT_EQ(v, -1);
  set_poison_allocations(was);
}

TEST(Tensor, HostMemoryIsReturned) {
  const long long before = host_live_bytes();
  {
    const Tensor t = zeros({1000});
    EXPECT_EQ(host_live_bytes() - before, 4000);
  }
  EXPECT_EQ(host_live_bytes(), before);
}

}  // namespace
}  // namespace kdcu
