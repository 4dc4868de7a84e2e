// libFuzzer target: any byte string parsed as a CIFAR-10 or CIFAR-100 binary batch must either
// load (whole records, labels in range) or raise kdcu::IoError — never crash or throw anything
// else. Seeds: fuzz/seeds/cifar (a 2-record CIFAR-10 and a 1-record CIFAR-100 batch).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/error.h"
#include "datasets/cifar.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace kdcu::datasets;
  for (CifarKind kind : {CifarKind::Cifar10, CifarKind::Cifar100}) {
    try {
      const CifarRecords r = parse_cifar(data, size, kind, "<fuzz>");
      const std::int64_t classes = kind == CifarKind::Cifar10 ? 10 : 100;
      if (r.images.size() != r.labels.size() * static_cast<size_t>(kCifarPixels)) std::abort();
      if (r.labels.size() * static_cast<size_t>(cifar_record_bytes(kind)) != size) std::abort();
      for (std::int64_t l : r.labels)
        if (l < 0 || l >= classes) std::abort();
    } catch (const kdcu::IoError&) {
      // the expected outcome for most inputs
    } catch (...) {
      std::abort();
    }
  }
  return 0;
}
