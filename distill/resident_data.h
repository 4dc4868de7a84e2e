// Device-resident training data: the whole training set uploaded once to the training device as
// normalised f32 images [N, C, H, W] and i64 labels [N] (plus any per-sample tables, such as the
// soft-label cache's teacher logits), and each batch cut out of it by a row gather on the device
// (ops::index_rows). Per epoch the only transfer is the sample order, N i64 values, taken from
// the host DataLoader's own epoch_order, so the batches are bitwise the host loader's: same
// images (the loader's normalisation table), labels, indices and extras, same order, same last
// partial batch and drop_last. Valid only without random augmentation (crop and flip draw per
// sample on the host) and when the data fits (kResidentLimitBytes).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "datasets/dataset.h"
#include "datasets/loader.h"

namespace kdcu {
namespace distill {

// Where the training batches come from. Auto: resident when the device is CUDA and the data
// qualifies (no augmentation, fits), else the host loader; Host: always the host DataLoader;
// Device: resident on the training device (CPU too, for tests), a ValueError when it cannot be.
enum class DataResidency { Auto, Host, Device };

const char* residency_name(DataResidency r);          // "auto" | "host" | "device"
DataResidency parse_residency(const std::string& s);  // ValueError naming the accepted values

// The most a resident copy may take (images as f32, labels, tables): 2 GiB, and on a CUDA device
// also at most a quarter of its free memory (the rest is for the models and their activations).
inline constexpr std::int64_t kResidentLimitBytes = std::int64_t{2} << 30;

// Bytes the resident copy of `data` with `tables` takes on the device.
std::int64_t resident_bytes(const datasets::Dataset& data, const std::vector<Tensor>& tables);

// Why `bytes` of resident data should not go on `device` with `free_bytes` free ("" when they fit:
// at most a quarter of it). decide_residency asks the device for free_bytes.
std::string device_memory_blocker(std::int64_t bytes, std::int64_t free_bytes, const std::string& name,
                                  const Device& device);

struct ResidencyDecision {
  bool resident = false;
  std::string why;  // a short reason, for the log ("augmentation", "auto on the CPU", ...)
};

// The choice for `options.device`. ValueError when Device is asked for and cannot be honoured
// (augmentation, a LoaderOptions::transform host hook, more than `limit` bytes or, on CUDA, more
// than a quarter of the device's free memory), naming why.
ResidencyDecision decide_residency(DataResidency r, const datasets::Dataset& data,
                                   const datasets::LoaderOptions& options, const std::vector<Tensor>& tables,
                                   std::int64_t limit = kResidentLimitBytes);

// The resident batches. `options` as for the DataLoader (batch_size, shuffle, drop_last, seed,
// normalization, device); prefetch is ignored (a batch is a few kernel launches), augmentation
// and transform must be off (ValueError). `tables` are [N, ...] tensors with row i = sample i,
// uploaded once and gathered into Batch::extras in order. No size limit is applied here.
class ResidentLoader {
 public:
  ResidentLoader(std::shared_ptr<const datasets::Dataset> data, datasets::LoaderOptions options,
                 std::vector<Tensor> tables = {});

  std::int64_t batches_per_epoch() const { return order_source_.batches_per_epoch(); }
  std::int64_t samples_per_epoch() const { return order_source_.samples_per_epoch(); }
  std::vector<std::int64_t> epoch_order(std::int64_t epoch) const { return order_source_.epoch_order(epoch); }
  std::int64_t bytes() const { return bytes_; }  // held on the device
  const Device& device() const { return device_; }

  // Uploads the order of `epoch` (the one transfer of an epoch).
  void start_epoch(std::int64_t epoch);
  // Batch `number` of the epoch, gathered on the device: images f32 [B, C, H, W], labels and
  // indices i64 [B], extras (one per table); false once the epoch is over. ValueError before
  // start_epoch.
  bool next(datasets::Batch& out);

 private:
  datasets::DataLoader order_source_;  // the host loader: its checks, order and batch counts (never iterated)
  Device device_;
  std::int64_t batch_size_ = 0, bytes_ = 0;
  Tensor images_, labels_;
  std::vector<Tensor> tables_;
  Tensor order_;  // i64 [N] on the device, of the current epoch
  std::int64_t epoch_ = -1, next_number_ = 0;
};

// The training loop's batch source: the host DataLoader or the ResidentLoader, by
// decide_residency. `tables` become Batch::extras either way (gathered on the host in the
// loader's background thread, or on the device); `options.transform` must then be empty.
class TrainBatches {
 public:
  TrainBatches(std::shared_ptr<const datasets::Dataset> data, datasets::LoaderOptions options, DataResidency r,
               std::vector<Tensor> tables = {});
  ~TrainBatches();

  bool resident() const { return resident_ != nullptr; }
  const ResidencyDecision& decision() const { return decision_; }
  std::int64_t batches_per_epoch() const;
  void start_epoch(std::int64_t epoch);
  bool next(datasets::Batch& out);

 private:
  ResidencyDecision decision_;
  std::unique_ptr<datasets::DataLoader> host_;
  std::unique_ptr<ResidentLoader> resident_;
};

}  // namespace distill
}  // namespace kdcu
