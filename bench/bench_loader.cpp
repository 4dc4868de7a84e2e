// Loader-only throughput on the real Fashion-MNIST: images/s that the DataLoader hands out
// (batch 256, shuffle, f32 normalised), with and without random crop (padding 2) + flip, with
// the background thread and built inside next(). The consumer does nothing, so this is an upper
// bound of what the loader can feed a training step. Skips with a message if the data is absent.
//   bench_loader [--quick] [--data DIR]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "core/error.h"
#include "datasets/file_io.h"
#include "datasets/loader.h"
#include "datasets/registry.h"

namespace {

using namespace kdcu;
using namespace kdcu::datasets;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
      dir = argv[++i];
    } else {
      std::fprintf(stderr, "bench_loader: unknown option '%s' (expected --quick, --data DIR)\n", argv[i]);
      return 2;
    }
  }
  const std::string where = dir.empty() ? default_data_dir("fashion-mnist") : dir;
  if (!file_exists(where + "/train-images-idx3-ubyte.gz") && !file_exists(where + "/train-images-idx3-ubyte")) {
    std::printf("bench_loader: skipped: Fashion-MNIST is not installed at %s (apt-get install dataset-fashion-mnist)\n",
                where.c_str());
    return 0;
  }
  const auto t_load = Clock::now();
  NamedDataset fm;
  try {
    fm = load_dataset("fashion-mnist", dir);
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_loader: error: %s\n", e.what());
    return 1;
  }
  const double load_s = seconds_since(t_load);
  auto train = std::make_shared<const Dataset>(std::move(fm.train));
  std::printf("Fashion-MNIST train: %lld images 1x28x28, read + gunzip + parse in %.2f s\n",
              static_cast<long long>(train->size()), load_s);
  std::printf("DataLoader, batch 256, shuffle, normalised f32 batches; the consumer does nothing, so it waits\n");
  std::printf("%-26s %-10s %8s %14s %12s %10s\n", "augmentation", "thread", "epochs", "images/s", "us/batch", "waits");
  const int epochs = quick ? 1 : 3;
  for (const bool augment : {false, true}) {
    for (const int prefetch : {4, 0}) {
      LoaderOptions o;
      o.batch_size = 256;
      o.seed = 1;
      o.normalization = fm.normalization();
      if (augment) o.augmentation = {2, true};
      o.prefetch = prefetch;
      DataLoader loader(train, o);
      std::int64_t images = 0, batches = 0;
      Batch b;
      const auto t0 = Clock::now();
      for (int e = 0; e < epochs; ++e) {
        loader.start_epoch(e);
        while (loader.next(b)) {
          images += b.images.size(0);
          ++batches;
        }
      }
      const double s = seconds_since(t0);
      std::printf("%-26s %-10s %8d %14.0f %12.1f %10lld\n", augment ? "crop (pad 2) + flip" : "none",
                  prefetch ? "prefetch 4" : "in next()", epochs, static_cast<double>(images) / s,
                  s / static_cast<double>(batches) * 1e6, static_cast<long long>(loader.stats().waits));
    }
  }
  return 0;
}
