// A block of memory on one device, shared by every tensor that views it.
// Host memory is 64-byte aligned and counted (live bytes), so tests can prove a training loop
// does not grow; device memory comes from the CUDA stream-ordered pool.
#pragma once

#include <cstddef>
#include <memory>

#include "core/device.h"

namespace kdcu {

class Storage {
 public:
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  const Device& device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
};

// When on, every new storage is filled with 0xFF bytes (NaN for floating types, -1 for i64), so a
// kernel that leaves an output element unwritten produces NaN instead of stale pool contents.
// Off by default; the environment variable KDCU_POISON_ALLOCATIONS=1 turns it on (ctest does).
void set_poison_allocations(bool on);
bool poison_allocations();

// Host bytes currently held by Storage objects (and the number of host allocations ever made).
long long host_live_bytes();
long long host_allocation_count();

}  // namespace kdcu
