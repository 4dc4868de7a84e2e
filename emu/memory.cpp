// Emulated device memory (memory.h): a map from block start to size under one mutex.
#include "emu/memory.h"

#include <cstdlib>
#include <iterator>
#include <map>
#include <mutex>
#include <new>
#include <string>

namespace kdcu {
namespace emu {
namespace {

struct Blocks {
  std::mutex mutex;
  std::map<const char*, size_t> live;  // start -> bytes
  size_t live_bytes = 0;
};

Blocks& blocks() {
  static Blocks* b = new Blocks;  // never destroyed: frees may come from static destructors
  return *b;
}

size_t capacity_from_env() {
  const char* v = std::getenv("KDCU_EMU_MEMORY_MB");
  if (!v || !*v) return size_t{8192} << 20;
  char* end = nullptr;
  const unsigned long long mb = std::strtoull(v, &end, 10);
  if (*end != '\0' || mb == 0) return size_t{8192} << 20;
  return static_cast<size_t>(mb) << 20;
}

}  // namespace

size_t device_total_bytes() {
  static const size_t total = capacity_from_env();
  return total;
}

void* device_alloc(size_t bytes) {
  if (bytes == 0) return nullptr;
  Blocks& b = blocks();
  std::lock_guard<std::mutex> lock(b.mutex);
  if (bytes > device_total_bytes() - b.live_bytes) return nullptr;
  // The exact size (posix_memalign, unlike aligned_alloc, takes any), so under AddressSanitizer
  // the first byte past the block is already a heap overflow.
  void* p = nullptr;
  if (posix_memalign(&p, 256, bytes) != 0) return nullptr;
  b.live.emplace(static_cast<const char*>(p), bytes);
  b.live_bytes += bytes;
  return p;
}

bool device_free(void* p) {
  Blocks& b = blocks();
  std::lock_guard<std::mutex> lock(b.mutex);
  const auto it = b.live.find(static_cast<const char*>(p));
  if (it == b.live.end()) return false;
  b.live_bytes -= it->second;
  b.live.erase(it);
  std::free(p);
  return true;
}

bool is_device_range(const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  Blocks& b = blocks();
  std::lock_guard<std::mutex> lock(b.mutex);
  auto it = b.live.upper_bound(c);
  if (it == b.live.begin()) return false;
  it = std::prev(it);
  const size_t offset = static_cast<size_t>(c - it->first);
  if (offset >= it->second) return false;
  return bytes <= it->second - offset;
}

size_t device_live_bytes() {
  Blocks& b = blocks();
  std::lock_guard<std::mutex> lock(b.mutex);
  return b.live_bytes;
}

}  // namespace emu
}  // namespace kdcu
