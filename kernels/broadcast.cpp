#include "kernels/broadcast.h"

#include "core/error.h"

namespace kdcu {
namespace kernels {

BroadcastPlan make_broadcast_plan(const std::int64_t* out, int out_ndim, const std::int64_t* a, int a_ndim,
                                  const std::int64_t* b, int b_ndim) {
  // Full-rank extents and contiguous strides of each operand, right-aligned to the output.
  std::int64_t sa[64], sb[64], so[64];
  require<ShapeError>(out_ndim <= 64, "broadcast: too many dims (", out_ndim, ")");
  std::int64_t ra = 1, rb = 1;
  for (int d = out_ndim - 1; d >= 0; --d) {
    const int da = d - (out_ndim - a_ndim), db = d - (out_ndim - b_ndim);
    const std::int64_t ea = da >= 0 ? a[da] : 1, eb = db >= 0 ? b[db] : 1;
    so[d] = out[d];
    sa[d] = (ea == 1 && out[d] != 1) ? 0 : ra;
    sb[d] = (eb == 1 && out[d] != 1) ? 0 : rb;
    ra *= ea;
    rb *= eb;
  }
  BroadcastPlan p;
  for (int d = 0; d < out_ndim; ++d) p.numel *= out[d];
  // Drop extent-1 dims, then merge d into the previous kept dim when both operands stay contiguous.
  for (int d = 0; d < out_ndim; ++d) {
    if (so[d] == 1) continue;
    if (p.ndim > 0) {
      const int k = p.ndim - 1;
      if (p.stride_a[k] == sa[d] * so[d] && p.stride_b[k] == sb[d] * so[d]) {
        p.size[k] *= so[d];
        p.stride_a[k] = sa[d];
        p.stride_b[k] = sb[d];
        continue;
      }
    }
    require<ShapeError>(p.ndim < kMaxDims, "broadcast: more than ", kMaxDims,
                        " dims remain after merging; kdcu supports at most that many");
    p.size[p.ndim] = so[d];
    p.stride_a[p.ndim] = sa[d];
    p.stride_b[p.ndim] = sb[d];
    ++p.ndim;
  }
  return p;
}

}  // namespace kernels
}  // namespace kdcu
