#include "core/storage.h"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/cuda_runtime.h"
#include "core/error.h"

namespace kdcu {
namespace {
constexpr size_t kHostAlignment = 64;
std::atomic<long long> g_host_live{0};
std::atomic<long long> g_host_allocs{0};

std::atomic<bool>& poison_flag() {
  static std::atomic<bool> flag{[] {
    const char* v = std::getenv("KDCU_POISON_ALLOCATIONS");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }()};
  return flag;
}
// A training step frees and re-allocates the same activation sizes every step. glibc's defaults
// would serve each large block by mmap and unmap it on free (or trim the heap top), so every step
// page-faults its activations in again (measured: 8-16 % of a CPU training step). Keep blocks up
// to 32 MiB (glibc's maximum threshold) in the heap and trim only past 256 MiB of free top.
void keep_freed_memory() {
  static const bool done = [] {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    return true;
  }();
  (void)done;
}
}  // namespace

void set_poison_allocations(bool on) {
  poison_flag() = on;
}
bool poison_allocations() {
  return poison_flag();
}

long long host_live_bytes() {
  return g_host_live.load();
}
long long host_allocation_count() {
  return g_host_allocs.load();
}

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  if (device.is_cuda()) {
    cuda::require_device(device);
    data_ = cuda::allocate(bytes, device.index);
    if (poison_allocations()) {
      try {
        cuda::memset_bytes(data_, 0xFF, bytes, device.index);
      } catch (...) {
        cuda::deallocate(data_, bytes, device.index);  // the destructor of a half-built Storage never runs
        throw;
      }
    }
    return;
  }
  if (bytes == 0) return;
  keep_freed_memory();
  const size_t rounded = (bytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
  data_ = std::aligned_alloc(kHostAlignment, rounded);
  if (!data_) throw std::bad_alloc();
  g_host_live += static_cast<long long>(bytes);
  ++g_host_allocs;
  if (poison_allocations()) std::memset(data_, 0xFF, bytes);
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
