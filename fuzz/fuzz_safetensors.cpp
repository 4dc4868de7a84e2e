// libFuzzer target: any byte string given to the safetensors reader must either load or raise
// kdcu::IoError — never crash, read out of bounds, leak, or throw anything else.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/error.h"
#include "core/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const kdcu::SafetensorsFile f = kdcu::load_safetensors_from_memory(data, size, "<fuzz>");
    for (const auto& [name, t] : f.tensors) (void)t.numel();
  } catch (const kdcu::IoError&) {
    // the expected outcome for almost every input
  } catch (...) {
    std::abort();  // anything but IoError is a bug
  }
  return 0;
}
