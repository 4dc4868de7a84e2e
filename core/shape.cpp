#include "core/shape.h"

#include <algorithm>
#include <sstream>

#include "core/error.h"

namespace kdcu {

std::int64_t numel(const Shape& s) {
  std::int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << ']';
  return os.str();
}

std::int64_t normalize_dim(std::int64_t dim, std::int64_t ndim, const char* op) {
  const std::int64_t d = dim < 0 ? dim + ndim : dim;
  require<ShapeError>(d >= 0 && d < ndim, op, ": dim ", dim, " is out of range for a tensor with ", ndim,
                      " dims (expected ", -ndim, " <= dim < ", ndim, ")");
  return d;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const std::int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const std::int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    require<ShapeError>(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
                        " do not broadcast (dim ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

void check_shape(const Shape& s, const char* what) {
  for (auto d : s) require<ValueError>(d >= 0, what, ": negative extent in shape ", shape_str(s));
}

}  // namespace kdcu
