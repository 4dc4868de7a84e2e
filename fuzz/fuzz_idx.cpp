// libFuzzer target: any byte string given to the IDX reader (plain or gzip) must either load or
// raise kdcu::IoError — never crash, read out of bounds, leak, or throw anything else. A parsed
// file is also paired as images or labels with a matching partner, to reach idx_dataset's checks.
// Seeds: fuzz/seeds/idx (small plain and gzip IDX files made with Python's gzip + struct).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <utility>
#include <vector>

#include "core/error.h"
#include "datasets/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace kdcu::datasets;
  try {
    IdxArray a = parse_idx(data, size, "<fuzz>");
    std::uint64_t n = 1;
    for (std::int64_t d : a.dims) n *= static_cast<std::uint64_t>(d);
    if (a.data.size() != n) std::abort();           // the parser promised product(dims) bytes
    if (a.dims.size() == 3 && a.dims[0] <= 4096) {  // as images, with labels 0..N-1 mod 256
      IdxArray labels{{a.dims[0]}, {}};
      for (std::int64_t i = 0; i < a.dims[0]; ++i) labels.data.push_back(static_cast<std::uint8_t>(i));
      const Dataset d = idx_dataset(std::move(a), std::move(labels), "<fuzz images>", "<fuzz labels>", "fuzz");
      if (d.images.size() != static_cast<size_t>(d.size() * d.image_numel())) std::abort();
    } else if (a.dims.size() == 1 && a.dims[0] <= 4096) {  // as labels, with 1x1 images
      IdxArray images{{a.dims[0], 1, 1}, std::vector<std::uint8_t>(static_cast<size_t>(a.dims[0]), 0)};
      const Dataset d = idx_dataset(std::move(images), std::move(a), "<fuzz images>", "<fuzz labels>", "fuzz");
      for (std::int64_t l : d.labels)
        if (l < 0 || l >= d.num_classes) std::abort();
    }
  } catch (const kdcu::IoError&) {
    // the expected outcome for almost every input
  } catch (...) {
    std::abort();  // anything but IoError is a bug
  }
  return 0;
}
