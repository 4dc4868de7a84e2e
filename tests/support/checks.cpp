#include "tests/support/checks.h"

#include <cmath>
#include <limits>
#include <sstream>

#include "core/factories.h"

namespace kdcu {
namespace testing {

Tolerance tolerance_for(DType dtype, double factor) {
  switch (dtype) {
    case DType::F32:
      return {1e-5 * factor, 1e-6 * factor};
    case DType::F64:
      return {1e-10 * factor, 1e-12 * factor};
    case DType::I64:
      return {0.0, 0.0};
  }
  return {0.0, 0.0};
}

::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, Tolerance tol) {
  if (!actual.defined() || !expected.defined())
    return ::testing::AssertionFailure() << "undefined tensor in comparison";
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << "shape " << shape_str(actual.shape()) << " vs expected "
                                         << shape_str(expected.shape());
  const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  size_t bad = 0, worst = 0;
  double worst_excess = -1.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double err = std::fabs(a[i] - e[i]);
    const double allowed = tol.atol + tol.rtol * std::fabs(e[i]);
    const bool ok = err <= allowed || (std::isinf(a[i]) && a[i] == e[i]);
    if (!ok) {
      ++bad;
      const double excess = std::isnan(err) ? std::numeric_limits<double>::infinity() : err / allowed;
      if (excess > worst_excess) worst_excess = excess, worst = i;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  std::ostringstream os;
  os.precision(10);
  os << bad << " of " << a.size() << " elements differ (rtol " << tol.rtol << ", atol " << tol.atol
     << "); worst at flat index " << worst << ": actual " << a[worst] << ", expected " << e[worst];
  return ::testing::AssertionFailure() << os.str();
}

::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected) {
  return all_close(actual, expected, tolerance_for(expected.dtype()));
}

double poison_value(DType dtype) {
  return is_floating(dtype) ? std::numeric_limits<double>::quiet_NaN() : -987654321.0;
}

void poison(const Tensor& t) {
  fill_(t, poison_value(t.dtype()));
}

std::string bytes_of(const Tensor& t) {
  const Tensor c = t.to(Device::cpu());
  return std::string(static_cast<const char*>(c.raw_data()), c.nbytes());
}

std::string differing(const std::vector<std::pair<std::string, Tensor>>& a,
                      const std::vector<std::pair<std::string, Tensor>>& b) {
  if (a.size() != b.size()) return "different sizes";
  std::string out;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].first != b[i].first || bytes_of(a[i].second) != bytes_of(b[i].second)) out += " " + a[i].first;
  return out;
}

}  // namespace testing
}  // namespace kdcu
