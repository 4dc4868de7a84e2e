// The device-side built-ins of CUDA C++ as the emulator provides them to kernels compiled by the
// host compiler: the thread coordinates, __syncthreads, the warp shuffles and votes (resolved by
// the scheduler under PTX's shfl.sync rules), atomics, fences, cache-hinted loads and the math
// intrinsics kdcu's kernels call. Included by emu/cuda_emu.h after the CUDA host headers.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <cuda_runtime.h>

namespace kdcu {
namespace emu {

// Where the running CUDA thread is; the scheduler points t_coords at it before it resumes a fiber.
struct Coords {
  uint3 thread_idx;
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
};
extern thread_local const Coords* t_coords;

// Synchronisation points (emu/scheduler.cpp). The file and line are the call site's, for reports.
void sync_threads(const char* file, int line);

enum class WarpKind : int { kShflIdx, kShflUp, kShflDown, kShflXor, kBallot, kAny, kAll, kSyncWarp };
// A warp-synchronous operation of the calling lane: waits until every lane of `mask` has reached a
// matching operation, then returns this lane's result (shuffles: the source lane's value; votes:
// the ballot). A mask naming a lane that never arrives is a fault, never a hang.
std::uint64_t warp_op(WarpKind kind, unsigned mask, std::uint64_t value, int arg, int width, const char* file,
                      int line);
// Lanes of the calling thread's warp that have not exited.
unsigned active_mask();
// Called where a thread retries an atomic (a failed compare-and-swap): lets the others run.
void spin_yield();

template <class T>
std::uint64_t to_bits(T v) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "warp shuffles move 32- or 64-bit values");
  std::uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  return bits;
}

template <class T>
T from_bits(std::uint64_t bits) {
  T v;
  std::memcpy(&v, &bits, sizeof(T));
  return v;
}

}  // namespace emu
}  // namespace kdcu

#define threadIdx (::kdcu::emu::t_coords->thread_idx)
#define blockIdx (::kdcu::emu::t_coords->block_idx)
#define blockDim (::kdcu::emu::t_coords->block_dim)
#define gridDim (::kdcu::emu::t_coords->grid_dim)
#define warpSize 32

// ------------------------------------------------------------------ barriers and warp operations

inline void __syncthreads(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  ::kdcu::emu::sync_threads(file, line);
}

inline void __syncwarp(unsigned mask = 0xffffffffu, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  ::kdcu::emu::warp_op(::kdcu::emu::WarpKind::kSyncWarp, mask, 0, 0, 32, file, line);
}

template <class T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = 32, const char* file = __builtin_FILE(),
              int line = __builtin_LINE()) {
  using namespace ::kdcu::emu;
  return from_bits<T>(warp_op(WarpKind::kShflIdx, mask, to_bits(var), src_lane, width, file, line));
}

template <class T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32, const char* file = __builtin_FILE(),
                 int line = __builtin_LINE()) {
  using namespace ::kdcu::emu;
  return from_bits<T>(warp_op(WarpKind::kShflUp, mask, to_bits(var), static_cast<int>(delta), width, file, line));
}

template <class T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32, const char* file = __builtin_FILE(),
                   int line = __builtin_LINE()) {
  using namespace ::kdcu::emu;
  return from_bits<T>(warp_op(WarpKind::kShflDown, mask, to_bits(var), static_cast<int>(delta), width, file, line));
}

template <class T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32, const char* file = __builtin_FILE(),
                  int line = __builtin_LINE()) {
  using namespace ::kdcu::emu;
  return from_bits<T>(warp_op(WarpKind::kShflXor, mask, to_bits(var), lane_mask, width, file, line));
}

inline unsigned __ballot_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(),
                              int line = __builtin_LINE()) {
  using namespace ::kdcu::emu;
  return static_cast<unsigned>(warp_op(WarpKind::kBallot, mask, predicate != 0, 0, 32, file, line));
}

inline int __any_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace ::kdcu::emu;
  return static_cast<int>(warp_op(WarpKind::kAny, mask, predicate != 0, 0, 32, file, line));
}

inline int __all_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace ::kdcu::emu;
  return static_cast<int>(warp_op(WarpKind::kAll, mask, predicate != 0, 0, 32, file, line));
}

inline unsigned __activemask() {
  return ::kdcu::emu::active_mask();
}

// ------------------------------------------------------------------ atomics and fences
// Sequentially consistent host atomics: fibers switch only at synchronisation points, so within a
// block these are atomic anyway; the __atomic builtins also let ThreadSanitizer see them as such.

template <class T>
T __kdcu_emu_atomic_cas(T* address, T compare, T value) {
  T expected = compare;
  __atomic_compare_exchange_n(address, &expected, value, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  if (expected != compare) ::kdcu::emu::spin_yield();  // a retry loop: let the holder run
  return expected;
}

inline int atomicCAS(int* a, int c, int v) {
  return __kdcu_emu_atomic_cas(a, c, v);
}
inline unsigned atomicCAS(unsigned* a, unsigned c, unsigned v) {
  return __kdcu_emu_atomic_cas(a, c, v);
}
inline unsigned long long atomicCAS(unsigned long long* a, unsigned long long c, unsigned long long v) {
  return __kdcu_emu_atomic_cas(a, c, v);
}

#define KDCU_EMU_ATOMIC_INT(name, builtin)                                              \
  inline int name(int* a, int v) { return builtin(a, v, __ATOMIC_SEQ_CST); }          \
  inline unsigned name(unsigned* a, unsigned v) { return builtin(a, v, __ATOMIC_SEQ_CST); } \
  inline unsigned long long name(unsigned long long* a, unsigned long long v) { return builtin(a, v, __ATOMIC_SEQ_CST); }
KDCU_EMU_ATOMIC_INT(atomicAdd, __atomic_fetch_add)
KDCU_EMU_ATOMIC_INT(atomicSub, __atomic_fetch_sub)
KDCU_EMU_ATOMIC_INT(atomicAnd, __atomic_fetch_and)
KDCU_EMU_ATOMIC_INT(atomicOr, __atomic_fetch_or)
KDCU_EMU_ATOMIC_INT(atomicXor, __atomic_fetch_xor)
KDCU_EMU_ATOMIC_INT(atomicExch, __atomic_exchange_n)
#undef KDCU_EMU_ATOMIC_INT

// Floating-point read-modify-writes as a compare-and-swap on the bits (no retry can fail here:
// nothing else runs between the load and the swap).
template <class T, class Op>
T __kdcu_emu_atomic_float(T* address, Op op) {
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  Bits* bits = reinterpret_cast<Bits*>(address);
  Bits old = __atomic_load_n(bits, __ATOMIC_SEQ_CST);
  for (;;) {
    T o;
    std::memcpy(&o, &old, sizeof(T));
    const T n = op(o);
    Bits nb;
    std::memcpy(&nb, &n, sizeof(T));
    if (__atomic_compare_exchange_n(bits, &old, nb, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) return o;
  }
}
inline float atomicAdd(float* a, float v) {
  return __kdcu_emu_atomic_float(a, [v](float o) { return o + v; });
}
inline double atomicAdd(double* a, double v) {
  return __kdcu_emu_atomic_float(a, [v](double o) { return o + v; });
}
inline float atomicExch(float* a, float v) {
  return __kdcu_emu_atomic_float(a, [v](float) { return v; });
}

template <class T>
T __kdcu_emu_atomic_max(T* a, T v) {
  return __kdcu_emu_atomic_float(a, [v](T o) { return o < v ? v : o; });
}
template <class T>
T __kdcu_emu_atomic_min(T* a, T v) {
  return __kdcu_emu_atomic_float(a, [v](T o) { return v < o ? v : o; });
}
inline int atomicMax(int* a, int v) {
  return __kdcu_emu_atomic_max(a, v);
}
inline unsigned atomicMax(unsigned* a, unsigned v) {
  return __kdcu_emu_atomic_max(a, v);
}
inline unsigned long long atomicMax(unsigned long long* a, unsigned long long v) {
  return __kdcu_emu_atomic_max(a, v);
}
inline int atomicMin(int* a, int v) {
  return __kdcu_emu_atomic_min(a, v);
}
inline unsigned atomicMin(unsigned* a, unsigned v) {
  return __kdcu_emu_atomic_min(a, v);
}
inline unsigned long long atomicMin(unsigned long long* a, unsigned long long v) {
  return __kdcu_emu_atomic_min(a, v);
}

inline void __threadfence() {
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
}
inline void __threadfence_block() {
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

// ------------------------------------------------------------------ loads with cache hints

template <class T>
T __ldg(const T* p) {
  return *p;
}
template <class T>
T __ldcg(const T* p) {
  return *p;
}
template <class T>
T __ldca(const T* p) {
  return *p;
}
template <class T>
T __ldcs(const T* p) {
  return *p;
}

// ------------------------------------------------------------------ math intrinsics
// Correctly rounded IEEE operations: the host's, with contraction off (-ffp-contract=off), so no
// multiply-add is fused behind the kernel's back.

inline float __fadd_rn(float a, float b) {
  return a + b;
}
inline float __fsub_rn(float a, float b) {
  return a - b;
}
inline float __fmul_rn(float a, float b) {
  return a * b;
}
inline float __fdiv_rn(float a, float b) {
  return a / b;
}
inline float __fsqrt_rn(float a) {
  return std::sqrt(a);
}
inline float __frcp_rn(float a) {
  return 1.0f / a;
}
inline double __dadd_rn(double a, double b) {
  return a + b;
}
inline double __dsub_rn(double a, double b) {
  return a - b;
}
inline double __dmul_rn(double a, double b) {
  return a * b;
}
inline double __ddiv_rn(double a, double b) {
  return a / b;
}
inline double __dsqrt_rn(double a) {
  return std::sqrt(a);
}
inline float __expf(float a) {
  return std::exp(a);
}
inline float __logf(float a) {
  return std::log(a);
}
inline float __fdividef(float a, float b) {
  return a / b;
}
inline float rsqrtf(float a) {
  return 1.0f / std::sqrt(a);
}
inline double rsqrt(double a) {
  return 1.0 / std::sqrt(a);
}
inline float __saturatef(float a) {
  return std::isnan(a) ? 0.0f : (a < 0.0f ? 0.0f : (a > 1.0f ? 1.0f : a));
}
inline int __popc(unsigned v) {
  return __builtin_popcount(v);
}
inline int __popcll(unsigned long long v) {
  return __builtin_popcountll(v);
}
inline int __ffs(int v) {
  return __builtin_ffs(v);
}
inline int __clz(int v) {
  return v == 0 ? 32 : __builtin_clz(static_cast<unsigned>(v));
}
inline float __int_as_float(int v) {
  return ::kdcu::emu::from_bits<float>(static_cast<std::uint32_t>(v));
}
inline int __float_as_int(float v) {
  return static_cast<int>(static_cast<std::uint32_t>(::kdcu::emu::to_bits(v)));
}

// CUDA's device min/max overloads, for operands of one arithmetic type.
template <class T, class = std::enable_if_t<std::is_arithmetic<T>::value>>
T min(T a, T b) {
  return b < a ? b : a;
}
template <class T, class = std::enable_if_t<std::is_arithmetic<T>::value>>
T max(T a, T b) {
  return a < b ? b : a;
}
using std::isinf;
using std::isnan;
using std::isfinite;
