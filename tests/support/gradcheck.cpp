#include "tests/support/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/autograd.h"
#include "core/factories.h"
#include "ops/elementwise.h"

namespace kdcu {
namespace testing {
namespace {

// sum(w * y) in f64 on the host, outside autograd.
double weighted_sum(const Tensor& y, const std::vector<double>& w) {
  const std::vector<double> v = y.to_vector<double>();
  double s = 0.0;
  for (size_t i = 0; i < v.size(); ++i) s += w[i] * v[i];
  return s;
}

}  // namespace

Tensor random(const Shape& shape, std::uint64_t seed, bool requires_grad, double lo, double hi) {
  Generator gen(seed);
  Tensor t = rand(shape, gen, DType::F64, Device::cpu(), lo, hi);
  if (requires_grad) t.requires_grad_();
  return t;
}

Tensor leaf(const Shape& shape, std::uint64_t seed, double lo, double hi) {
  return random(shape, seed, true, lo, hi);
}

::testing::AssertionResult gradcheck(const GradFn& f, const std::vector<Tensor>& inputs, const GradCheckOptions& o) {
  for (const Tensor& t : inputs) {
    if (t.defined() && (t.dtype() != DType::F64 || !t.device().is_cpu()))
      return ::testing::AssertionFailure() << "gradcheck needs f64 CPU inputs, found " << t.str(4);
  }
  // Analytic gradients through backward(), seeded with fixed random output weights.
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) Tensor(t).zero_grad();
  const Tensor y = f(inputs);
  if (!y.requires_grad()) return ::testing::AssertionFailure() << "the output does not require grad";
  Generator gen(1234);
  const Tensor w_tensor = rand(y.shape(), gen, DType::F64, Device::cpu(), 0.5, 1.5);
  const std::vector<double> w = w_tensor.to_vector<double>();
  y.backward(w_tensor);

  std::ostringstream failures;
  int failed = 0;
  long long checked = 0, kinks = 0;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.defined() || !x.requires_grad()) continue;
    if (!x.grad().defined()) return ::testing::AssertionFailure() << "input " << k << " received no gradient";
    const std::vector<double> analytic = x.grad().to_vector<double>();
    double* p = x.data<double>();
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      const double saved = p[i];
      double fp, fm, f0;
      {
        autograd::NoGradGuard no_grad;
        p[i] = saved + o.eps;
        fp = weighted_sum(f(inputs), w);
        p[i] = saved - o.eps;
        fm = weighted_sum(f(inputs), w);
        p[i] = saved;
        f0 = weighted_sum(f(inputs), w);
      }
      const double central = (fp - fm) / (2 * o.eps);
      const double forward = (fp - f0) / o.eps, backward = (f0 - fm) / o.eps;
      const double a = analytic[static_cast<size_t>(i)];
      ++checked;
      bool ok;
      if (std::fabs(forward - backward) > o.kink_threshold * (1.0 + std::fabs(central))) {
        ++kinks;  // a kink: accept any subgradient between the one-sided slopes
        const double lo = std::min(forward, backward), hi = std::max(forward, backward);
        const double slack = o.atol + o.rtol * std::max(std::fabs(lo), std::fabs(hi));
        ok = a >= lo - slack && a <= hi + slack;
      } else {
        ok = std::fabs(a - central) <= o.atol + o.rtol * std::fabs(central) + 1e-3 * std::fabs(forward - backward);
      }
      if (!ok && ++failed <= 8) {
        failures << "\n  input " << k << " element " << i << ": analytic " << a << ", numerical " << central
                 << " (one-sided " << forward << ", " << backward << ")";
      }
    }
  }
  if (checked == 0) return ::testing::AssertionFailure() << "no input requires grad: nothing was checked";
  if (failed)
    return ::testing::AssertionFailure() << failed << " of " << checked << " gradient entries wrong:" << failures.str();
  if (static_cast<double>(kinks) > o.max_kink_fraction * static_cast<double>(checked))
    return ::testing::AssertionFailure() << kinks << " of " << checked
                                         << " points are kinks: too many to call this a check; move the inputs";
  return ::testing::AssertionSuccess();
}

}  // namespace testing
}  // namespace kdcu
