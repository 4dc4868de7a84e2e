// Optimizer steps and norm reductions on CUDA (formulas in kernels/cpu/optim.h, layout in
// kernels/cuda/optim.h). A launch carries a pack of up to kMaxTensorsPerLaunch tensors in its
// parameters; block b finds its tensor from the pack's first-block table and updates one chunk.
#include <cmath>
#include <limits>

#include "core/cuda_check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/optim.h"

namespace kdcu {
namespace kernels {
namespace cuda {
namespace {

constexpr int K = kMaxTensorsPerLaunch;
constexpr std::int64_t kMaxBlocks = (std::int64_t{1} << 31) - 1;  // grid.x limit
constexpr int kReduceThreads = 1024;                              // the final reduction's one block

// Separately rounded arithmetic: the CPU build has no FMA, so neither may the GPU contract.
__device__ inline float mul_rn(float a, float b) {
  return __fmul_rn(a, b);
}
__device__ inline double mul_rn(double a, double b) {
  return __dmul_rn(a, b);
}
__device__ inline float add_rn(float a, float b) {
  return __fadd_rn(a, b);
}
__device__ inline double add_rn(double a, double b) {
  return __dadd_rn(a, b);
}
__device__ inline float div_rn(float a, float b) {
  return __fdiv_rn(a, b);
}
__device__ inline double div_rn(double a, double b) {
  return __ddiv_rn(a, b);
}
__device__ inline float sqrt_rn(float a) {
  return __fsqrt_rn(a);
}
__device__ inline double sqrt_rn(double a) {
  return __dsqrt_rn(a);
}

template <class T>
struct SgdPack {
  T* p[K];
  const T* g[K];
  T* buf[K];
  std::int64_t n[K];
  std::int64_t first_block[K + 1];
  bool first_step[K];
  int count;
};

template <class T>
struct AdamPack {
  T* p[K];
  const T* g[K];
  T* m[K];
  T* v[K];
  std::int64_t n[K];
  std::int64_t first_block[K + 1];
  T neg_step_size[K];  // -lr / (1 - beta1^t), rounded to T
  T bc2_sqrt[K];       // sqrt(1 - beta2^t), rounded to T
  int count;
};

template <class T>
struct SpanPack {
  const T* data[K];
  std::int64_t n[K];
  std::int64_t first_block[K + 1];
  int count;
};

// This block's tensor and element range [begin, end).
struct ChunkRange {
  int t;
  std::int64_t begin, end;
};
__device__ inline ChunkRange chunk_of(const std::int64_t* first_block, const std::int64_t* n, int count) {
  const std::int64_t b = blockIdx.x;
  int t = 0;
  while (t + 1 < count && first_block[t + 1] <= b) ++t;
  const std::int64_t begin = (b - first_block[t]) * kChunk;
  return {t, begin, min(n[t], begin + kChunk)};
}

template <class T>
__global__ void sgd_kernel(SgdPack<T> pack, T neg_lr, T mom, T wd, T keep, bool use_wd, bool use_momentum,
                           bool nesterov) {
  const ChunkRange r = chunk_of(pack.first_block, pack.n, pack.count);
  T* p = pack.p[r.t];
  const T* g = pack.g[r.t];
  T* buf = pack.buf[r.t];
  const bool first = pack.first_step[r.t];
  for (std::int64_t i = r.begin + threadIdx.x; i < r.end; i += blockDim.x) {
    T d = g[i];
    if (use_wd) d = add_rn(d, mul_rn(wd, p[i]));
    if (use_momentum) {
      const T b = first ? d : add_rn(mul_rn(buf[i], mom), mul_rn(keep, d));
      buf[i] = b;
      d = nesterov ? add_rn(d, mul_rn(mom, b)) : b;
    }
    p[i] = add_rn(p[i], mul_rn(neg_lr, d));
  }
}

template <class T>
__global__ void adam_kernel(AdamPack<T> pack, T b1, T b2, T one_minus_b1, T one_minus_b2, T e, T wd, T shrink,
                            bool decoupled, bool l2) {
  const ChunkRange r = chunk_of(pack.first_block, pack.n, pack.count);
  T* p = pack.p[r.t];
  const T* g = pack.g[r.t];
  T* m = pack.m[r.t];
  T* v = pack.v[r.t];
  const T neg_step_size = pack.neg_step_size[r.t], bc2_sqrt = pack.bc2_sqrt[r.t];
  for (std::int64_t i = r.begin + threadIdx.x; i < r.end; i += blockDim.x) {
    T x = p[i];
    if (decoupled) x = mul_rn(x, shrink);
    const T d = l2 ? add_rn(g[i], mul_rn(wd, x)) : g[i];
    const T mi = add_rn(mul_rn(m[i], b1), mul_rn(one_minus_b1, d));
    const T vi = add_rn(mul_rn(v[i], b2), mul_rn(mul_rn(one_minus_b2, d), d));
    m[i] = mi;
    v[i] = vi;
    const T denom = add_rn(div_rn(sqrt_rn(vi), bc2_sqrt), e);
    p[i] = add_rn(x, mul_rn(neg_step_size, div_rn(mi, denom)));
  }
}

enum class NormMode { kSquares, kAbs, kPow, kMax };

__device__ inline double nan_max(double a, double b) {
  if (isnan(a)) return a;
  if (isnan(b)) return b;
  return a > b ? a : b;
}

// Combines v over the block in a fixed tree (sum, or NaN-propagating max); the total on thread 0.
template <NormMode Mode, int Threads>
__device__ double block_combine(double v, double* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int stride = Threads / 2; stride > 0; stride >>= 1) {
    if (static_cast<int>(threadIdx.x) < stride) {
      const double other = shared[threadIdx.x + stride];
      shared[threadIdx.x] = Mode == NormMode::kMax ? nan_max(shared[threadIdx.x], other) : shared[threadIdx.x] + other;
    }
    __syncthreads();
  }
  return shared[0];
}

template <NormMode Mode, class T>
__global__ void norm_partial_kernel(SpanPack<T> pack, double norm_type, double* partials) {
  __shared__ double shared[kThreads];
  const ChunkRange r = chunk_of(pack.first_block, pack.n, pack.count);
  const T* x = pack.data[r.t];
  double acc = 0.0;
  for (std::int64_t i = r.begin + threadIdx.x; i < r.end; i += blockDim.x) {
    const double a = fabs(static_cast<double>(x[i]));
    if constexpr (Mode == NormMode::kSquares) acc += a * a;
    if constexpr (Mode == NormMode::kAbs) acc += a;
    if constexpr (Mode == NormMode::kPow) acc += pow(a, norm_type);
    if constexpr (Mode == NormMode::kMax) acc = nan_max(acc, a);
  }
  const double total = block_combine<Mode, kThreads>(acc, shared);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

// One block of kReduceThreads = 1024 threads: the bound tells the compiler to fit its registers.
template <NormMode Mode>
__global__ void __launch_bounds__(1024) norm_final_kernel(const double* partials, std::int64_t count, double* out) {
  static_assert(kReduceThreads == 1024, "the launch bound above must match kReduceThreads");
  __shared__ double shared[kReduceThreads];
  double acc = 0.0;
  for (std::int64_t i = threadIdx.x; i < count; i += kReduceThreads)
    acc = Mode == NormMode::kMax ? nan_max(acc, partials[i]) : acc + partials[i];
  const double total = block_combine<Mode, kReduceThreads>(acc, shared);
  if (threadIdx.x == 0) *out = total;
}

template <class T>
__global__ void scale_kernel(T* x, std::int64_t n, T s) {
  for (const std::int64_t i : grid_stride(n)) x[i] = mul_rn(x[i], s);
}

// Cuts a list into packs of at most K non-empty tensors and at most kMaxBlocks chunks:
// add(pack, slot, item) fills one slot, run(pack, blocks) launches a full pack.
template <class Pack, class Item, class Add, class Run>
void in_packs(const Item* items, std::size_t count, Add&& add, Run&& run) {
  Pack pack{};
  int slot = 0;
  std::int64_t blocks = 0;
  const auto flush = [&] {
    if (slot == 0) return;
    pack.count = slot;
    pack.first_block[slot] = blocks;
    run(pack, blocks);
    pack = Pack{};
    slot = 0;
    blocks = 0;
  };
  for (std::size_t i = 0; i < count; ++i) {
    const std::int64_t n = items[i].n;
    if (n <= 0) continue;
    const std::int64_t chunks = (n + kChunk - 1) / kChunk;
    if (slot == K || blocks + chunks > kMaxBlocks) flush();
    pack.first_block[slot] = blocks;
    pack.n[slot] = n;
    add(pack, slot, items[i]);
    blocks += chunks;
    ++slot;
  }
  flush();
}

dim3 grid_of(std::int64_t blocks) {
  return dim3(static_cast<unsigned int>(blocks));
}

// Device memory from kdcu's pool for one call, returned (stream-ordered) when it goes out of scope.
class DeviceBuffer {
 public:
  DeviceBuffer(std::size_t bytes, int device) : bytes_(bytes), device_(device) {
    ptr_ = kdcu::cuda::allocate(bytes, device);
  }
  ~DeviceBuffer() { kdcu::cuda::deallocate(ptr_, bytes_, device_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  double* doubles() const { return static_cast<double*>(ptr_); }

 private:
  void* ptr_ = nullptr;
  std::size_t bytes_;
  int device_;
};

template <NormMode Mode, class T>
double norm_reduce(const ConstSpan<T>* spans, std::size_t count, double norm_type, int device) {
  std::int64_t total_blocks = 0;
  for (std::size_t i = 0; i < count; ++i) total_blocks += spans[i].n > 0 ? (spans[i].n + kChunk - 1) / kChunk : 0;
  if (total_blocks == 0) return 0.0;
  // partials[0, total_blocks), then the result.
  DeviceBuffer buffer(static_cast<std::size_t>(total_blocks + 1) * sizeof(double), device);
  double* partials = buffer.doubles();
  std::int64_t offset = 0;
  in_packs<SpanPack<T>>(
      spans, count, [](SpanPack<T>& pack, int slot, const ConstSpan<T>& s) { pack.data[slot] = s.data; },
      [&](const SpanPack<T>& pack, std::int64_t blocks) {
        kdcu::cuda::launch("clip_grad_norm partials", norm_partial_kernel<Mode, T>, grid_of(blocks), kThreads, 0,
                           device, pack, norm_type, partials + offset);
        offset += blocks;
      });
  kdcu::cuda::launch("clip_grad_norm total", norm_final_kernel<Mode>, dim3(1), kReduceThreads, 0, device, partials,
                     total_blocks, partials + total_blocks);
  double result = 0.0;
  kdcu::cuda::copy_device_to_host(&result, partials + total_blocks, sizeof(double), device);
  return result;
}

}  // namespace

template <class T>
void sgd_step_multi(const SgdTensor<T>* tensors, std::size_t count, double lr, double momentum, double dampening,
                    double weight_decay, bool nesterov, int device) {
  // Scalars rounded to T as kernels/cpu/optim.cpp rounds them.
  const T neg_lr = static_cast<T>(-lr), mom = static_cast<T>(momentum), wd = static_cast<T>(weight_decay);
  const T keep = static_cast<T>(1.0 - dampening);
  const bool use_wd = weight_decay != 0.0, use_momentum = momentum != 0.0;
  in_packs<SgdPack<T>>(
      tensors, count,
      [](SgdPack<T>& pack, int slot, const SgdTensor<T>& t) {
        pack.p[slot] = t.p;
        pack.g[slot] = t.g;
        pack.buf[slot] = t.buf;
        pack.first_step[slot] = t.first_step;
      },
      [&](const SgdPack<T>& pack, std::int64_t blocks) {
        kdcu::cuda::launch("sgd_step", sgd_kernel<T>, grid_of(blocks), kThreads, 0, device, pack, neg_lr, mom, wd, keep,
                           use_wd, use_momentum, nesterov);
      });
}

template <class T>
void sgd_step(T* p, const T* g, T* buf, std::int64_t n, double lr, double momentum, double dampening,
              double weight_decay, bool nesterov, bool first_step, int device) {
  const SgdTensor<T> one{p, g, buf, n, first_step};
  sgd_step_multi<T>(&one, 1, lr, momentum, dampening, weight_decay, nesterov, device);
}

template <class T>
void adam_step_multi(const AdamTensor<T>* tensors, std::size_t count, double lr, double beta1, double beta2, double eps,
                     double weight_decay, bool decoupled, int device) {
  const T b1 = static_cast<T>(beta1), b2 = static_cast<T>(beta2);
  const T one_minus_b1 = static_cast<T>(1.0 - beta1), one_minus_b2 = static_cast<T>(1.0 - beta2);
  const T e = static_cast<T>(eps), wd = static_cast<T>(weight_decay);
  const T shrink = static_cast<T>(1.0 - lr * weight_decay);
  const bool l2 = !decoupled && weight_decay != 0.0;
  in_packs<AdamPack<T>>(
      tensors, count,
      [&](AdamPack<T>& pack, int slot, const AdamTensor<T>& t) {
        pack.p[slot] = t.p;
        pack.g[slot] = t.g;
        pack.m[slot] = t.m;
        pack.v[slot] = t.v;
        // The bias corrections in double on the host, as the CPU computes them.
        const double s = static_cast<double>(t.step);
        pack.neg_step_size[slot] = static_cast<T>(-(lr / (1.0 - std::pow(beta1, s))));
        pack.bc2_sqrt[slot] = static_cast<T>(std::sqrt(1.0 - std::pow(beta2, s)));
      },
      [&](const AdamPack<T>& pack, std::int64_t blocks) {
        kdcu::cuda::launch(decoupled ? "adamw_step" : "adam_step", adam_kernel<T>, grid_of(blocks), kThreads, 0, device,
                           pack, b1, b2, one_minus_b1, one_minus_b2, e, wd, shrink, decoupled, l2);
      });
}

template <class T>
void adam_step(T* p, const T* g, T* m, T* v, std::int64_t n, double lr, double beta1, double beta2, double eps,
               double weight_decay, bool decoupled, std::int64_t step, int device) {
  const AdamTensor<T> one{p, g, m, v, n, step};
  adam_step_multi<T>(&one, 1, lr, beta1, beta2, eps, weight_decay, decoupled, device);
}

template <class T>
double abs_pow_sum_multi(const ConstSpan<T>* spans, std::size_t count, double norm_type, int device) {
  if (norm_type == 2.0) return norm_reduce<NormMode::kSquares, T>(spans, count, norm_type, device);
  if (norm_type == 1.0) return norm_reduce<NormMode::kAbs, T>(spans, count, norm_type, device);
  return norm_reduce<NormMode::kPow, T>(spans, count, norm_type, device);
}

template <class T>
double abs_pow_sum(const T* x, std::int64_t n, double norm_type, int device) {
  const ConstSpan<T> one{x, n};
  return abs_pow_sum_multi<T>(&one, 1, norm_type, device);
}

template <class T>
double abs_max_multi(const ConstSpan<T>* spans, std::size_t count, int device) {
  return norm_reduce<NormMode::kMax, T>(spans, count, 0.0, device);
}

template <class T>
double abs_max(const T* x, std::int64_t n, int device) {
  const ConstSpan<T> one{x, n};
  return abs_max_multi<T>(&one, 1, device);
}

template <class T>
void scale_inplace(T* x, std::int64_t n, double scale, int device) {
  kdcu::cuda::launch("clip_grad_norm scale", scale_kernel<T>, grid_for(n), kThreads, 0, device, x, n,
                     static_cast<T>(scale));
}

#define KDCU_INSTANTIATE(T)                                                                                         \
  template void sgd_step_multi<T>(const SgdTensor<T>*, std::size_t, double, double, double, double, bool, int);     \
  template void sgd_step<T>(T*, const T*, T*, std::int64_t, double, double, double, double, bool, bool, int);       \
  template void adam_step_multi<T>(const AdamTensor<T>*, std::size_t, double, double, double, double, double, bool, \
                                   int);                                                                            \
  template void adam_step<T>(T*, const T*, T*, T*, std::int64_t, double, double, double, double, double, bool,      \
                             std::int64_t, int);                                                                    \
  template double abs_pow_sum_multi<T>(const ConstSpan<T>*, std::size_t, double, int);                              \
  template double abs_pow_sum<T>(const T*, std::int64_t, double, int);                                              \
  template double abs_max_multi<T>(const ConstSpan<T>*, std::size_t, int);                                          \
  template double abs_max<T>(const T*, std::int64_t, int);                                                          \
  template void scale_inplace<T>(T*, std::int64_t, double, int);
KDCU_INSTANTIATE(float)
KDCU_INSTANTIATE(double)
#undef KDCU_INSTANTIATE

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
