#include "core/storage.h"

#include <atomic>
#include <cstdlib>
#include <new>

#include "core/cuda_runtime.h"
#include "core/error.h"

namespace kdcu {
namespace {
constexpr size_t kHostAlignment = 64;
std::atomic<long long> g_host_live{0};
std::atomic<long long> g_host_allocs{0};
}  // namespace

long long host_live_bytes() { return g_host_live.load(); }
long long host_allocation_count() { return g_host_allocs.load(); }

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  if (device.is_cuda()) {
    cuda::require_device(device);
    data_ = cuda::allocate(bytes, device.index);
    return;
  }
  if (bytes == 0) return;
  const size_t rounded = (bytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
  data_ = std::aligned_alloc(kHostAlignment, rounded);
  if (!data_) throw std::bad_alloc();
  g_host_live += static_cast<long long>(bytes);
  ++g_host_allocs;
}

Storage::~Storage() {
  if (device_.is_cuda()) {
    cuda::deallocate(data_, bytes_, device_.index);
  } else if (data_) {
    std::free(data_);
    g_host_live -= static_cast<long long>(bytes_);
  }
}

}  // namespace kdcu
