// Shapes of contiguous row-major tensors and the rules that combine them (broadcasting, dims).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kdcu {

using Shape = std::vector<std::int64_t>;

std::int64_t numel(const Shape& s);
std::string shape_str(const Shape& s);  // "[2, 3, 4]"
// Maps a possibly negative dim into [0, ndim); throws ShapeError naming `op` when out of range.
std::int64_t normalize_dim(std::int64_t dim, std::int64_t ndim, const char* op);
// NumPy/PyTorch broadcasting of two shapes; throws ShapeError naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Checks every extent is >= 0; throws ValueError naming `what`.
void check_shape(const Shape& s, const char* what);

}  // namespace kdcu
