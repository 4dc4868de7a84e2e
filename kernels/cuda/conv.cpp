// conv2d on CUDA through cuDNN's legacy convolution API (present in cuDNN 9; see conv.h). Per
// pass: descriptors for this call, the algorithm from a process-wide cache (on a miss, chosen by a
// fixed preference (conv_algo.h) among what cudnnFind*AlgorithmEx reports as working over a
// pool-allocated search workspace, capped at kMaxFindWorkspace),
// then the call with a workspace from kdcu's pool, returned in stream order right after.
#include "kernels/cuda/conv.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include "core/cuda_check.h"
#include "core/error.h"
#include "kernels/cuda/batch_norm.h"  // channel_sum: the bias gradient
#include "kernels/cuda/conv_algo.h"
#include "kernels/cuda/cudnn_util.h"

namespace kdcu {
namespace kernels {
namespace cuda {
namespace {

// The most device memory the algorithm search may use; algorithms wanting more are not tried.
constexpr size_t kMaxFindWorkspace = size_t{256} << 20;

enum class Pass : std::int64_t { kForward, kBackwardData, kBackwardFilter };
const char* pass_name(Pass p) {
  return p == Pass::kForward ? "forward" : p == Pass::kBackwardData ? "backward data" : "backward filter";
}

// Everything the choice depends on: device, pass, dtype, math mode, pointer alignment, geometry.
using AlgoKey = std::array<std::int64_t, 20>;

struct Algo {
  int algo = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspace = 0;
};

std::string shape_text(const Conv2dShape& s) {
  return cat("x (", s.n, ", ", s.cin, ", ", s.h, ", ", s.w, "), weight (", s.cout, ", ", s.cin, ", ", s.kh, ", ", s.kw,
             "), stride (", s.sh, ", ", s.sw, "), padding (", s.ph, ", ", s.pw, "), dilation (", s.dh, ", ", s.dw, ")");
}

// The largest power of two (up to 16) dividing every address: cuDNN's vectorised kernels need it.
std::int64_t alignment_of(std::initializer_list<const void*> ptrs) {
  std::int64_t align = 16;
  for (const void* p : ptrs) {
    if (!p) continue;
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    while (align > 1 && a % static_cast<std::uintptr_t>(align) != 0) align /= 2;
  }
  return align;
}

// Device memory from kdcu's pool for one call (nothing for 0 bytes), freed in stream order.
class Workspace {
 public:
  Workspace(size_t bytes, int device) : bytes_(bytes), device_(device) { ptr_ = kdcu::cuda::allocate(bytes, device); }
  ~Workspace() { kdcu::cuda::deallocate(ptr_, bytes_, device_); }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_;
  int device_;
};

// Find's chosen result (conv_algo.h: a fixed preference, not its timing) as the algorithm to run,
// under CUDNN_FMA_MATH with `strict` (f32, TF32 off).
template <class Perf, class AlgoT, size_t N>
Algo pick(const Perf* perf, int count, bool strict, const AlgoT (&preference)[N], Pass pass, const Conv2dShape& s) {
  const Perf* chosen = choose_algorithm(perf, count, strict, preference);
  require<CudaError>(chosen != nullptr, "conv2d ", pass_name(pass), ": cuDNN found no usable algorithm for ",
                     shape_text(s), strict ? " with full f32 math (TF32 off)" : "");
  Algo a;
  a.algo = static_cast<int>(chosen->algo);
  a.math = strict ? CUDNN_FMA_MATH : chosen->mathType;
  a.workspace = chosen->memory;
  return a;
}

// The one process-wide cache and its lock. Not a static inside cached_algo: that is a template
// instantiated once per calling lambda, which would give every pass and dtype its own map and its
// own mutex (so two searches could then run at once on the same cuDNN handle).
struct AlgoCache {
  std::mutex mutex;
  std::map<AlgoKey, Algo> entries;
};
AlgoCache& algo_cache() {
  static AlgoCache cache;
  return cache;
}

// Found once per key, under the one lock (a search synchronises the device anyway).
template <class Find>
Algo cached_algo(const AlgoKey& key, Find&& find) {
  AlgoCache& cache = algo_cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  const auto it = cache.entries.find(key);
  if (it != cache.entries.end()) return it->second;
  const Algo a = find();
  cache.entries.emplace(key, a);
  return a;
}

int as_int(std::int64_t v) {
  return static_cast<int>(v);
}

// One call's descriptors and math settings.
template <class T>
struct Setup {
  const Conv2dShape& s;
  int device;
  cudnnHandle_t handle;
  bool tf32;    // f32 with the TF32 switch on
  bool strict;  // f32 with it off: full f32 math only
  cudnnMathType_t find_math;
  TensorDesc x, y;
  FilterDesc w;
  ConvDesc conv;

  Setup(const Conv2dShape& shape, int dev)
      : s(shape),
        device(dev),
        handle(cudnn_handle(dev)),
        tf32(sizeof(T) == 4 && tf32_enabled()),
        strict(sizeof(T) == 4 && !tf32),
        find_math(sizeof(T) == 8 ? CUDNN_DEFAULT_MATH
                  : tf32         ? CUDNN_TENSOR_OP_MATH
                                 : CUDNN_FMA_MATH),
        x(cudnn_data_type<T>(), as_int(s.n), as_int(s.cin), as_int(s.h), as_int(s.w)),
        y(cudnn_data_type<T>(), as_int(s.n), as_int(s.cout), as_int(s.oh), as_int(s.ow)),
        w(cudnn_data_type<T>(), as_int(s.cout), as_int(s.cin), as_int(s.kh), as_int(s.kw)),
        conv(as_int(s.ph), as_int(s.pw), as_int(s.sh), as_int(s.sw), as_int(s.dh), as_int(s.dw), cudnn_data_type<T>(),
             find_math) {
    int n = 0, c = 0, h = 0, wd = 0;
    KDCU_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(conv.get(), x.get(), w.get(), &n, &c, &h, &wd));
    require<CudaError>(n == s.n && c == s.cout && h == s.oh && wd == s.ow, "conv2d: cuDNN computes an output of (", n,
                       ", ", c, ", ", h, ", ", wd, ") for ", shape_text(s), ", kdcu expected (", s.n, ", ", s.cout,
                       ", ", s.oh, ", ", s.ow, ")");
  }

  AlgoKey key(Pass pass, std::int64_t alignment) const {
    return {device,
            static_cast<std::int64_t>(pass),
            static_cast<std::int64_t>(sizeof(T)),
            tf32 ? 1 : 0,
            alignment,
            s.n,
            s.cin,
            s.h,
            s.w,
            s.cout,
            s.kh,
            s.kw,
            s.sh,
            s.sw,
            s.ph,
            s.pw,
            s.dh,
            s.dw,
            s.oh,
            s.ow};
  }
};

// The search workspace: what the largest algorithm asks for (unsupported ones answer an error
// and are skipped), at most kMaxFindWorkspace.
template <class Query>
size_t search_workspace(int algo_count, Query&& query) {
  size_t most = 0;
  for (int a = 0; a < algo_count; ++a) {
    size_t bytes = 0;
    if (query(a, &bytes) == CUDNN_STATUS_SUCCESS) most = std::max(most, bytes);
  }
  return std::min(most, kMaxFindWorkspace);
}

template <class T>
void run_forward(Setup<T>& st, const T* x, const T* w, T* y) {
  st.conv.set_math(st.find_math);
  const Algo a = cached_algo(st.key(Pass::kForward, alignment_of({x, w, y})), [&] {
    int max_count = 0;
    KDCU_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(st.handle, &max_count));
    Workspace search(search_workspace(CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                      [&](int algo, size_t* bytes) {
                                        return cudnnGetConvolutionForwardWorkspaceSize(
                                            st.handle, st.x.get(), st.w.get(), st.conv.get(), st.y.get(),
                                            static_cast<cudnnConvolutionFwdAlgo_t>(algo), bytes);
                                      }),
                     st.device);
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<size_t>(std::max(max_count, 1)));
    int returned = 0;
    KDCU_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(st.handle, st.x.get(), x, st.w.get(), w, st.conv.get(),
                                                            st.y.get(), y, max_count, &returned, perf.data(),
                                                            search.get(), search.bytes()));
    Algo found = pick(perf.data(), returned, st.strict, kForwardPreference, Pass::kForward, st.s);
    st.conv.set_math(found.math);
    size_t need = 0;
    KDCU_CUDNN_CHECK(
        cudnnGetConvolutionForwardWorkspaceSize(st.handle, st.x.get(), st.w.get(), st.conv.get(), st.y.get(),
                                                static_cast<cudnnConvolutionFwdAlgo_t>(found.algo), &need));
    found.workspace = std::max(found.workspace, need);
    return found;
  });
  st.conv.set_math(a.math);
  Workspace ws(a.workspace, st.device);
  const T one = T(1), zero = T(0);
  KDCU_CUDNN_CHECK(cudnnConvolutionForward(st.handle, &one, st.x.get(), x, st.w.get(), w, st.conv.get(),
                                           static_cast<cudnnConvolutionFwdAlgo_t>(a.algo), ws.get(), ws.bytes(), &zero,
                                           st.y.get(), y));
}

template <class T>
void run_backward_data(Setup<T>& st, const T* w, const T* dy, T* dx) {
  st.conv.set_math(st.find_math);
  const Algo a = cached_algo(st.key(Pass::kBackwardData, alignment_of({w, dy, dx})), [&] {
    int max_count = 0;
    KDCU_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(st.handle, &max_count));
    Workspace search(search_workspace(CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                      [&](int algo, size_t* bytes) {
                                        return cudnnGetConvolutionBackwardDataWorkspaceSize(
                                            st.handle, st.w.get(), st.y.get(), st.conv.get(), st.x.get(),
                                            static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), bytes);
                                      }),
                     st.device);
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(static_cast<size_t>(std::max(max_count, 1)));
    int returned = 0;
    KDCU_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(st.handle, st.w.get(), w, st.y.get(), dy,
                                                                 st.conv.get(), st.x.get(), dx, max_count, &returned,
                                                                 perf.data(), search.get(), search.bytes()));
    Algo found = pick(perf.data(), returned, st.strict, kBackwardDataPreference, Pass::kBackwardData, st.s);
    st.conv.set_math(found.math);
    size_t need = 0;
    KDCU_CUDNN_CHECK(
        cudnnGetConvolutionBackwardDataWorkspaceSize(st.handle, st.w.get(), st.y.get(), st.conv.get(), st.x.get(),
                                                     static_cast<cudnnConvolutionBwdDataAlgo_t>(found.algo), &need));
    found.workspace = std::max(found.workspace, need);
    return found;
  });
  st.conv.set_math(a.math);
  Workspace ws(a.workspace, st.device);
  const T one = T(1), zero = T(0);
  KDCU_CUDNN_CHECK(cudnnConvolutionBackwardData(st.handle, &one, st.w.get(), w, st.y.get(), dy, st.conv.get(),
                                                static_cast<cudnnConvolutionBwdDataAlgo_t>(a.algo), ws.get(),
                                                ws.bytes(), &zero, st.x.get(), dx));
}

template <class T>
void run_backward_filter(Setup<T>& st, const T* x, const T* dy, T* dw) {
  st.conv.set_math(st.find_math);
  const Algo a = cached_algo(st.key(Pass::kBackwardFilter, alignment_of({x, dy, dw})), [&] {
    int max_count = 0;
    KDCU_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(st.handle, &max_count));
    Workspace search(search_workspace(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
                                      [&](int algo, size_t* bytes) {
                                        return cudnnGetConvolutionBackwardFilterWorkspaceSize(
                                            st.handle, st.x.get(), st.y.get(), st.conv.get(), st.w.get(),
                                            static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), bytes);
                                      }),
                     st.device);
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(static_cast<size_t>(std::max(max_count, 1)));
    int returned = 0;
    KDCU_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(st.handle, st.x.get(), x, st.y.get(), dy,
                                                                   st.conv.get(), st.w.get(), dw, max_count, &returned,
                                                                   perf.data(), search.get(), search.bytes()));
    Algo found = pick(perf.data(), returned, st.strict, kBackwardFilterPreference, Pass::kBackwardFilter, st.s);
    st.conv.set_math(found.math);
    size_t need = 0;
    KDCU_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(
        st.handle, st.x.get(), st.y.get(), st.conv.get(), st.w.get(),
        static_cast<cudnnConvolutionBwdFilterAlgo_t>(found.algo), &need));
    found.workspace = std::max(found.workspace, need);
    return found;
  });
  st.conv.set_math(a.math);
  Workspace ws(a.workspace, st.device);
  const T one = T(1), zero = T(0);
  KDCU_CUDNN_CHECK(cudnnConvolutionBackwardFilter(st.handle, &one, st.x.get(), x, st.y.get(), dy, st.conv.get(),
                                                  static_cast<cudnnConvolutionBwdFilterAlgo_t>(a.algo), ws.get(),
                                                  ws.bytes(), &zero, st.w.get(), dw));
}

// cuDNN's descriptors take int extents, and its kernels index tensors with 32-bit offsets.
void check_cudnn_extents(const Conv2dShape& s) {
  const std::int64_t numels[] = {s.n * s.cin * s.h * s.w, s.n * s.cout * s.oh * s.ow, s.cout * s.cin * s.kh * s.kw};
  for (std::int64_t v : numels)
    require<ValueError>(v <= INT_MAX, "conv2d on CUDA: a tensor of ", v, " elements exceeds cuDNN's 32-bit limit; ",
                        shape_text(s));
}

std::int64_t x_numel(const Conv2dShape& s) {
  return s.n * s.cin * s.h * s.w;
}
std::int64_t y_numel(const Conv2dShape& s) {
  return s.n * s.cout * s.oh * s.ow;
}

template <class T>
void zero_fill(T* p, std::int64_t n, int device) {
  if (p && n > 0) kdcu::cuda::memset_bytes(p, 0, static_cast<size_t>(n) * sizeof(T), device);
}

template <class T>
void add_bias(cudnnHandle_t handle, const T* bias, T* y, const TensorDesc& y_desc, const Conv2dShape& s) {
  const TensorDesc b(cudnn_data_type<T>(), 1, as_int(s.cout), 1, 1);
  const T one = T(1);
  KDCU_CUDNN_CHECK(cudnnAddTensor(handle, &one, b.get(), bias, &one, y_desc.get(), y));
}

}  // namespace

template <class T>
void conv2d_forward(const T* x, const T* weight, const T* bias, T* y, const Conv2dShape& s, int device) {
  if (y_numel(s) == 0) return;
  check_cudnn_extents(s);
  if (x_numel(s) == 0) {
    // No input channels or an all-padding image: the sums are empty, y is the bias (or 0).
    zero_fill(y, y_numel(s), device);
    if (bias) {
      const TensorDesc y_desc(cudnn_data_type<T>(), as_int(s.n), as_int(s.cout), as_int(s.oh), as_int(s.ow));
      add_bias(cudnn_handle(device), bias, y, y_desc, s);
    }
    return;
  }
  Setup<T> st(s, device);
  run_forward(st, x, weight, y);
  if (bias) add_bias(st.handle, bias, y, st.y, s);
}

template <class T>
void conv2d_backward(const T* x, const T* weight, const T* dy, T* dx, T* dweight, T* dbias, const Conv2dShape& s,
                     int device) {
  // dy (N, Cout, oh*ow) summed per channel: images, then pixels, in double.
  if (dbias) channel_sum<T>(dy, dbias, s.n, s.cout, s.oh * s.ow, device);
  if (!dx && !dweight) return;
  check_cudnn_extents(s);
  if (x_numel(s) == 0 || y_numel(s) == 0) {
    // An empty side: every product has no terms, so what exists of dx and dweight is 0.
    zero_fill(dx, x_numel(s), device);
    zero_fill(dweight, s.cout * s.cin * s.kh * s.kw, device);
    return;
  }
  Setup<T> st(s, device);
  if (dx) run_backward_data(st, weight, dy, dx);
  if (dweight) run_backward_filter(st, x, dy, dweight);
}

template void conv2d_forward<float>(const float*, const float*, const float*, float*, const Conv2dShape&, int);
template void conv2d_forward<double>(const double*, const double*, const double*, double*, const Conv2dShape&, int);
template void conv2d_backward<float>(const float*, const float*, const float*, float*, float*, float*,
                                     const Conv2dShape&, int);
template void conv2d_backward<double>(const double*, const double*, const double*, double*, double*, double*,
                                      const Conv2dShape&, int);

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
