// Emulated device memory: every device allocation is an ordinary host heap block, recorded with
// its size, so the emulated runtime, cuBLAS and cuDNN can tell device pointers from host ones
// (the real runtime's unified addressing) and ASan sees an out-of-bounds kernel access as a heap
// overflow. Thread-safe.
#pragma once

#include <cstddef>

namespace kdcu {
namespace emu {

// A new block of `bytes` (> 0), 256-byte aligned like cudaMalloc's; nullptr when the emulated
// device's capacity (device_total_bytes) would be exceeded or the host has no memory left.
void* device_alloc(size_t bytes);
// Releases a block from device_alloc; false (and nothing freed) when p is not the start of one.
bool device_free(void* p);
// True when [p, p + bytes) lies inside one live device block (bytes == 0: p inside one).
bool is_device_range(const void* p, size_t bytes);
// Bytes in live blocks, and the emulated device's capacity (KDCU_EMU_MEMORY_MB, default 8192 MiB).
size_t device_live_bytes();
size_t device_total_bytes();

}  // namespace emu
}  // namespace kdcu
