// Elementwise CUDA kernels: one thread per output element (grid-stride). Broadcast operands are
// addressed through the merged-dims plan. sum_to gives one thread per output element, which
// walks the reduced elements in a fixed order, so the result is deterministic (no atomics); a sum
// down to one element, which that would leave to a single thread, is the multi-block ordered sum
// of reduce_util.cuh instead (its order a function of the size only, accumulated in double).
#include "core/cuda_check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/reduce_util.cuh"

namespace kdcu {
namespace kernels {
namespace cuda {
namespace {

template <BinaryOp Op, class T>
__global__ void binary_kernel(const T* a, const T* b, T* out, BroadcastPlan plan) {
  for (const std::int64_t i : grid_stride(plan.numel)) {
    std::int64_t ia, ib;
    broadcast_offsets(plan, i, ia, ib);
    out[i] = binary_fn<Op>(a[ia], b[ib]);
  }
}

// plan: the g-shaped space; stride_a maps into out (0 on reduced dims). Each thread owns one
// output element and sums every g element that maps to it.
template <class T>
__global__ void sum_to_kernel(const T* g, T* out, std::int64_t out_numel, BroadcastPlan plan) {
  // Split the dims into kept (stride_a != 0) and reduced; out is contiguous over the kept dims.
  for (const std::int64_t o : grid_stride(out_numel)) {
    // Decompose o over the kept dims (innermost first) to find its g offset.
    std::int64_t rest = o, g_base = 0, g_stride = 1, reduced_total = 1;
    std::int64_t g_strides[kMaxDims];
    for (int d = plan.ndim - 1; d >= 0; --d) {
      g_strides[d] = g_stride;
      g_stride *= plan.size[d];
    }
    for (int d = plan.ndim - 1; d >= 0; --d) {
      if (plan.stride_a[d] != 0) {
        const std::int64_t i = rest % plan.size[d];
        rest /= plan.size[d];
        g_base += i * g_strides[d];
      } else {
        reduced_total *= plan.size[d];
      }
    }
    T acc = T(0);
    for (std::int64_t r = 0; r < reduced_total; ++r) {
      std::int64_t rr = r, off = g_base;
      for (int d = plan.ndim - 1; d >= 0; --d) {
        if (plan.stride_a[d] == 0) {
          off += (rr % plan.size[d]) * g_strides[d];
          rr /= plan.size[d];
        }
      }
      acc += g[off];
    }
    out[o] = acc;
  }
}

template <UnaryOp Op, class T>
__global__ void unary_forward_kernel(const T* x, T* y, std::int64_t n) {
  for (const std::int64_t i : grid_stride(n)) y[i] = unary_fn<Op>(x[i]);
}

template <UnaryOp Op, class T>
__global__ void unary_backward_kernel(const T* x, const T* y, const T* dy, T* dx, std::int64_t n) {
  for (const std::int64_t i : grid_stride(n)) dx[i] = unary_grad<Op>(x ? x[i] : T(0), y ? y[i] : T(0), dy[i]);
}

template <class T>
__global__ void affine_kernel(const T* x, T* y, std::int64_t n, T alpha, T beta) {
  for (const std::int64_t i : grid_stride(n)) y[i] = alpha * x[i] + beta;
}

template <class T>
__global__ void pow_forward_kernel(const T* x, T* y, std::int64_t n, T p) {
  for (const std::int64_t i : grid_stride(n)) y[i] = math::pow(x[i], p);
}

template <class T>
__global__ void pow_backward_kernel(const T* x, const T* dy, T* dx, std::int64_t n, T p) {
  for (const std::int64_t i : grid_stride(n)) dx[i] = dy[i] * p * math::pow(x[i], p - T(1));
}

template <class T>
__global__ void add_inplace_kernel(T* dst, const T* src, std::int64_t n, T alpha) {
  for (const std::int64_t i : grid_stride(n)) dst[i] += alpha * src[i];
}

}  // namespace

template <class T>
void binary(BinaryOp op, const T* a, const T* b, T* out, const BroadcastPlan& plan, int device) {
  visit_binary(op, [&](auto tag) {
    constexpr BinaryOp kOp = decltype(tag)::value;
    kdcu::cuda::launch(binary_name(op), binary_kernel<kOp, T>, grid_for(plan.numel), kThreads, 0, device, a, b, out,
                       plan);
  });
}

namespace {
// Element i of a contiguous array, as a term of ordered_sum.
template <class T>
struct ElementTerm {
  const T* g;
  __device__ double operator()(std::int64_t i) const { return static_cast<double>(g[i]); }
};

}  // namespace

template <class T>
void sum_to(const T* g, T* out, std::int64_t out_numel, const BroadcastPlan& plan, int device) {
  if (out_numel == 1) {  // every dim reduced: g is contiguous with plan.numel elements
    ordered_sum<T>("sum_to", ElementTerm<T>{g}, plan.numel, 1.0, out, device);
    return;
  }
  kdcu::cuda::launch("sum_to", sum_to_kernel<T>, grid_for(out_numel), kThreads, 0, device, g, out, out_numel, plan);
}

template <class T>
void unary_forward(UnaryOp op, const T* x, T* y, std::int64_t n, int device) {
  visit_unary(op, [&](auto tag) {
    constexpr UnaryOp kOp = decltype(tag)::value;
    kdcu::cuda::launch(unary_name(op), unary_forward_kernel<kOp, T>, grid_for(n), kThreads, 0, device, x, y, n);
  });
}

template <class T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* dy, T* dx, std::int64_t n, int device) {
  visit_unary(op, [&](auto tag) {
    constexpr UnaryOp kOp = decltype(tag)::value;
    kdcu::cuda::launch(unary_name(op), unary_backward_kernel<kOp, T>, grid_for(n), kThreads, 0, device, x, y, dy, dx,
                       n);
  });
}

template <class T>
void affine(const T* x, T* y, std::int64_t n, T alpha, T beta, int device) {
  kdcu::cuda::launch("affine", affine_kernel<T>, grid_for(n), kThreads, 0, device, x, y, n, alpha, beta);
}

template <class T>
void pow_forward(const T* x, T* y, std::int64_t n, T p, int device) {
  kdcu::cuda::launch("pow", pow_forward_kernel<T>, grid_for(n), kThreads, 0, device, x, y, n, p);
}

template <class T>
void pow_backward(const T* x, const T* dy, T* dx, std::int64_t n, T p, int device) {
  kdcu::cuda::launch("pow_backward", pow_backward_kernel<T>, grid_for(n), kThreads, 0, device, x, dy, dx, n, p);
}

template <class T>
void add_inplace(T* dst, const T* src, std::int64_t n, T alpha, int device) {
  kdcu::cuda::launch("add_inplace", add_inplace_kernel<T>, grid_for(n), kThreads, 0, device, dst, src, n, alpha);
}

#define KDCU_INSTANTIATE(T)                                                                      \
  template void binary<T>(BinaryOp, const T*, const T*, T*, const BroadcastPlan&, int);          \
  template void sum_to<T>(const T*, T*, std::int64_t, const BroadcastPlan&, int);                \
  template void unary_forward<T>(UnaryOp, const T*, T*, std::int64_t, int);                      \
  template void unary_backward<T>(UnaryOp, const T*, const T*, const T*, T*, std::int64_t, int); \
  template void affine<T>(const T*, T*, std::int64_t, T, T, int);                                \
  template void pow_forward<T>(const T*, T*, std::int64_t, T, int);                              \
  template void pow_backward<T>(const T*, const T*, T*, std::int64_t, T, int);                   \
  template void add_inplace<T>(T*, const T*, std::int64_t, T, int);
KDCU_INSTANTIATE(float)
KDCU_INSTANTIATE(double)
#undef KDCU_INSTANTIATE

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
