// Elementwise CPU kernels. Broadcast work walks the output in chunks (split across threads);
// inside a chunk it runs along the innermost merged dim with constant operand strides.
#include "kernels/cpu/elementwise.h"

#include <algorithm>

#include "kernels/dispatch.h"

namespace kdcu {
namespace kernels {

namespace cpu {
namespace {

constexpr std::int64_t kChunk = 1 << 14;

// Calls run(out_index, count, a_offset, a_stride, b_offset, b_stride) for each run of the output
// along its innermost merged dim. Parallel over chunks when `parallel` (runs never overlap then).
template <class Run>
void walk(const BroadcastPlan& p, bool parallel, Run&& run) {
  const std::int64_t n = p.numel;
  if (n == 0) return;
  if (p.ndim == 0) {
    run(std::int64_t{0}, std::int64_t{1}, std::int64_t{0}, std::int64_t{0}, std::int64_t{0}, std::int64_t{0});
    return;
  }
  const int last = p.ndim - 1;
  const std::int64_t inner = p.size[last];
  const std::int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (parallel && n > kParallelGrain)
  for (std::int64_t c = 0; c < chunks; ++c) {
    std::int64_t i = c * kChunk;
    const std::int64_t end = std::min(n, i + kChunk);
    while (i < end) {
      std::int64_t ia = 0, ib = 0;
      broadcast_offsets(p, i, ia, ib);
      const std::int64_t count = std::min(inner - i % inner, end - i);
      run(i, count, ia, p.stride_a[last], ib, p.stride_b[last]);
      i += count;
    }
  }
}

}  // namespace

template <class T>
void binary(BinaryOp op, const T* a, const T* b, T* out, const BroadcastPlan& plan) {
  visit_binary(op, [&](auto tag) {
    constexpr BinaryOp kOp = decltype(tag)::value;
    walk(plan, true,
         [&](std::int64_t i, std::int64_t count, std::int64_t ia, std::int64_t sa, std::int64_t ib, std::int64_t sb) {
           T* y = out + i;
           const T* pa = a + ia;
           const T* pb = b + ib;
           if (sa == 1 && sb == 1) {
             for (std::int64_t j = 0; j < count; ++j) y[j] = binary_fn<kOp>(pa[j], pb[j]);
           } else if (sa == 1 && sb == 0) {
             const T vb = *pb;
             for (std::int64_t j = 0; j < count; ++j) y[j] = binary_fn<kOp>(pa[j], vb);
           } else {
             for (std::int64_t j = 0; j < count; ++j) y[j] = binary_fn<kOp>(pa[j * sa], pb[j * sb]);
           }
         });
  });
}

template <class T>
void sum_to(const T* g, T* out, std::int64_t out_numel, const BroadcastPlan& plan) {
  std::fill(out, out + out_numel, T(0));
  // Serial: different runs may add into the same output element.
  walk(plan, false,
       [&](std::int64_t i, std::int64_t count, std::int64_t ia, std::int64_t sa, std::int64_t, std::int64_t) {
         const T* pg = g + i;
         if (sa == 0) {
           T acc = out[ia];
           for (std::int64_t j = 0; j < count; ++j) acc += pg[j];
           out[ia] = acc;
         } else {
           for (std::int64_t j = 0; j < count; ++j) out[ia + j * sa] += pg[j];
         }
       });
}

template <class T>
void unary_forward(UnaryOp op, const T* x, T* y, std::int64_t n) {
  visit_unary(op, [&](auto tag) {
    constexpr UnaryOp kOp = decltype(tag)::value;
#pragma omp parallel for if (n > kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) y[i] = unary_fn<kOp>(x[i]);
  });
}

template <class T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* dy, T* dx, std::int64_t n) {
  visit_unary(op, [&](auto tag) {
    constexpr UnaryOp kOp = decltype(tag)::value;
#pragma omp parallel for if (n > kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) dx[i] = unary_grad<kOp>(x ? x[i] : T(0), y ? y[i] : T(0), dy[i]);
  });
}

template <class T>
void affine(const T* x, T* y, std::int64_t n, T alpha, T beta) {
#pragma omp parallel for if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) y[i] = alpha * x[i] + beta;
}

template <class T>
void pow_forward(const T* x, T* y, std::int64_t n, T p) {
#pragma omp parallel for if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) y[i] = math::pow(x[i], p);
}

template <class T>
void pow_backward(const T* x, const T* dy, T* dx, std::int64_t n, T p) {
#pragma omp parallel for if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) dx[i] = dy[i] * p * math::pow(x[i], p - T(1));
}

template <class T>
void add_inplace(T* dst, const T* src, std::int64_t n, T alpha) {
#pragma omp parallel for if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) dst[i] += alpha * src[i];
}

#define KDCU_INSTANTIATE(T)                                                                 \
  template void binary<T>(BinaryOp, const T*, const T*, T*, const BroadcastPlan&);          \
  template void sum_to<T>(const T*, T*, std::int64_t, const BroadcastPlan&);                \
  template void unary_forward<T>(UnaryOp, const T*, T*, std::int64_t);                      \
  template void unary_backward<T>(UnaryOp, const T*, const T*, const T*, T*, std::int64_t); \
  template void affine<T>(const T*, T*, std::int64_t, T, T);                                \
  template void pow_forward<T>(const T*, T*, std::int64_t, T);                              \
  template void pow_backward<T>(const T*, const T*, T*, std::int64_t, T);                   \
  template void add_inplace<T>(T*, const T*, std::int64_t, T);
KDCU_INSTANTIATE(float)
KDCU_INSTANTIATE(double)
#undef KDCU_INSTANTIATE

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
