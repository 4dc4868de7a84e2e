// DataLoader: batches of a Dataset as f32 image tensors [B, C, H, W] (normalised, augmented),
// i64 labels [B] and the samples' indices [B], built by one background thread a few batches
// ahead. The order and augmentation of epoch e depend only on (seed, e), never on timing.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "core/tensor.h"
#include "datasets/dataset.h"
#include "datasets/transforms.h"

namespace kdcu {
namespace datasets {

struct Batch {
  Tensor images;   // f32 [B, C, H, W] on LoaderOptions::device
  Tensor labels;   // i64 [B]
  Tensor indices;  // i64 [B]: each sample's index in the loader's data set (for per-sample caches)
  // Per-sample side data that LoaderOptions::transform adds (e.g. cached teacher logits, looked
  // up by `indices`); moved to the device with the rest.
  std::vector<Tensor> extras;
  std::int64_t epoch = 0, number = 0;  // which epoch, and which batch of it (from 0)
};

struct LoaderOptions {
  std::int64_t batch_size = 64;
  bool shuffle = true;          // a fresh permutation each epoch, from (seed, epoch)
  bool drop_last = false;       // drop a last batch smaller than batch_size
  std::uint64_t seed = 0;       // drives the shuffle and the augmentation
  Normalization normalization;  // empty: x / 255 only
  Augmentation augmentation;
  int prefetch = 4;  // batches built ahead by the background thread; 0 = built inside next(), no thread
  // Where batches go, by Tensor::to in the background thread (pageable copies; pinned buffers
  // are not written). To keep the whole data set on the GPU instead and gather each batch there,
  // see distill/resident_data.h (ResidentLoader, TrainBatches, --data-residency): it needs the
  // row gather of ops/, which this library does not link, and reuses epoch_order and
  // lookup_table below, so its batches are bitwise this loader's.
  Device device = Device::cpu();
  // Optional extra step on each host batch, in the background thread, before the device move.
  // An exception it throws reaches the consumer's next().
  std::function<void(Batch&)> transform;
};

// How long the consumer waited for the background thread (a loader that keeps up waits only
// for the first batch of each epoch).
struct LoaderStats {
  std::int64_t batches = 0;   // batches handed out
  std::int64_t waits = 0;     // next() calls that found no batch ready
  double wait_seconds = 0.0;  // time spent in those waits
};

class DataLoader {
 public:
  // ValueError for an invalid data set or options (batch_size < 1, prefetch < 0, a negative or
  // huge crop padding, normalisation of the wrong size); DeviceError for an unusable device.
  DataLoader(std::shared_ptr<const Dataset> data, LoaderOptions options);
  // Stops the background thread (also in the middle of an epoch) and waits for it.
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  const Dataset& dataset() const { return *data_; }
  const LoaderOptions& options() const { return opt_; }
  std::int64_t batches_per_epoch() const;
  std::int64_t samples_per_epoch() const;

  // The sample order of `epoch` (before batching): a permutation drawn from (seed, epoch), or
  // 0..N-1 without shuffle.
  std::vector<std::int64_t> epoch_order(std::int64_t epoch) const;

  // The normalisation lookup every image goes through, [C, 256]: lookup_table()[c * 256 + x].
  const std::vector<float>& lookup_table() const { return table_; }

  // Starts (or restarts) `epoch`: a batch still being built for an earlier epoch is abandoned.
  void start_epoch(std::int64_t epoch);
  // The next batch of the current epoch into `out`; false once the epoch is over. Rethrows an
  // exception raised while building a batch (after the batches built before it), which ends
  // the epoch. ValueError when no epoch was started.
  bool next(Batch& out);

  LoaderStats stats() const { return stats_; }

 private:
  struct Channel;
  Batch build(const std::vector<std::int64_t>& order, std::int64_t epoch, std::int64_t number) const;
  void stop();

  std::shared_ptr<const Dataset> data_;
  LoaderOptions opt_;
  std::vector<float> table_;  // [C, 256] normalisation lookup
  std::int64_t epoch_ = -1, next_number_ = 0;
  std::shared_ptr<const std::vector<std::int64_t>> order_;
  std::shared_ptr<Channel> channel_;
  std::thread worker_;
  LoaderStats stats_;
};

}  // namespace datasets
}  // namespace kdcu
