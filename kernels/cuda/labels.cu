// The per-device bad-label record (labels.cuh) and take_label_error (loss.h).
#include <atomic>

#include "core/cuda_check.h"
#include "kernels/cuda/labels.cuh"
#include "kernels/cuda/loss.h"
#include "kernels/cuda/reduce_util.cuh"

namespace kdcu {
namespace kernels {
namespace cuda {
namespace {

// Each device has its own copy, set up when the module loads, so there is nothing to allocate.
__device__ LabelRecord g_label_record = {kNoRow, 0, 0, 0, 0};

std::atomic<unsigned long long> g_launch_tags{0};

// Copies the record to `out` and clears it. One thread; nothing else runs on the stream meanwhile.
__global__ void take_label_record_kernel(LabelRecord* record, LabelRecord* out) {
  out->row = record->row;
  out->label = record->label;
  out->classes = record->classes;
  out->tag = record->tag;
  out->lock = 0;
  record->row = kNoRow;
}

}  // namespace

LabelRecord* label_record(int device) {
  kdcu::cuda::set_device(device);
  void* address = nullptr;
  KDCU_CUDA_CHECK(cudaGetSymbolAddress(&address, g_label_record));
  return static_cast<LabelRecord*>(address);
}

unsigned long long next_label_tag() {
  return ++g_launch_tags;
}

std::optional<LabelError> take_label_error(int device) {
  DeviceScratch out(sizeof(LabelRecord), device);
  auto* ptr = static_cast<LabelRecord*>(out.ptr);
  kdcu::cuda::launch("take_label_error", take_label_record_kernel, 1, 1, 0, device, label_record(device), ptr);
  LabelRecord host{};
  kdcu::cuda::copy_device_to_host(&host, ptr, sizeof(host), device);  // waits for the stream
  if (host.row == kNoRow) return std::nullopt;
  return LabelError{static_cast<std::int64_t>(host.row), host.label, host.classes};
}

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
