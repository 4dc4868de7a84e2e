// Device-resident training data. The upload builds the f32 images on the host in chunks with the
// DataLoader's own lookup table and transform_image (identity crop, no flip: what the loader does
// without augmentation), so each value is the loader's bit for bit; a chunk is copied into its
// rows of the device tensor, which bounds the host memory to one chunk.
#include "distill/resident_data.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "core/cuda_runtime.h"
#include "core/error.h"
#include "core/factories.h"
#include "datasets/transforms.h"
#include "distill/soft_label_cache.h"
#include "ops/gather.h"

namespace kdcu {
namespace distill {
namespace {

constexpr std::int64_t kUploadChunkRows = 4096;

std::string mib(std::int64_t bytes) {
  return cat(static_cast<double>(bytes) / (1024.0 * 1024.0), " MiB");
}

// Why the data cannot be resident ("" when it can), independent of the device.
std::string blocker(const datasets::Dataset& data, const datasets::LoaderOptions& o, const std::vector<Tensor>& tables,
                    std::int64_t limit) {
  const datasets::Augmentation& a = o.augmentation;
  if (a.enabled())
    return cat("random augmentation (crop padding ", a.crop_padding, ", horizontal flip ",
               a.horizontal_flip ? "on" : "off",
               ") draws per-sample parameters on the host each epoch, so the batches cannot be cut from a fixed "
               "device copy");
  if (o.transform) return "LoaderOptions::transform is a host hook on each batch; the resident data has none";
  const std::int64_t bytes = resident_bytes(data, tables);
  if (bytes > limit)
    return cat("the resident copy of ", data.name, " would take ", mib(bytes), " (", data.size(),
               " images as f32, labels and tables), more than the limit of ", mib(limit));
  return "";
}

}  // namespace

const char* residency_name(DataResidency r) {
  switch (r) {
    case DataResidency::Auto:
      return "auto";
    case DataResidency::Host:
      return "host";
    case DataResidency::Device:
      return "device";
  }
  return "?";
}

DataResidency parse_residency(const std::string& s) {
  if (s == "auto") return DataResidency::Auto;
  if (s == "host") return DataResidency::Host;
  if (s == "device") return DataResidency::Device;
  throw ValueError(cat("data residency must be auto, host or device, found '", s, "'"));
}

std::int64_t resident_bytes(const datasets::Dataset& data, const std::vector<Tensor>& tables) {
  std::int64_t bytes = data.size() * data.image_numel() * 4 + data.size() * 8;
  for (const Tensor& t : tables) bytes += static_cast<std::int64_t>(t.nbytes());
  return bytes;
}

std::string device_memory_blocker(std::int64_t bytes, std::int64_t free_bytes, const std::string& name,
                                  const Device& device) {
  if (bytes <= free_bytes / 4) return "";
  return cat("the resident copy of ", name, " would take ", mib(bytes), ", more than a quarter of the ",
             mib(free_bytes), " free on ", device.str(), " (the models need the rest)");
}

ResidencyDecision decide_residency(DataResidency r, const datasets::Dataset& data,
                                   const datasets::LoaderOptions& options, const std::vector<Tensor>& tables,
                                   std::int64_t limit) {
  if (r == DataResidency::Host) return {false, "host loader asked for"};
  std::string why = blocker(data, options, tables, limit);
  if (why.empty() && options.device.is_cuda() && cuda::available())
    why = device_memory_blocker(resident_bytes(data, tables), cuda::memory_info(options.device.index).free_bytes,
                                data.name, options.device);
  if (r == DataResidency::Device) {
    require<ValueError>(why.empty(), "data residency 'device' is not possible: ", why,
                        "; use data residency host or auto");
    return {true, "device residency asked for"};
  }
  if (!options.device.is_cuda()) return {false, "auto keeps the host loader on the CPU"};
  if (!why.empty()) return {false, why};
  return {true, cat("auto: the data fits on ", options.device.str())};
}

ResidentLoader::ResidentLoader(std::shared_ptr<const datasets::Dataset> data, datasets::LoaderOptions options,
                               std::vector<Tensor> tables)
    : order_source_(data,
                    [&] {
                      // The host loader checks the data set and options; it never builds a batch here.
                      datasets::LoaderOptions o = options;
                      o.device = Device::cpu();
                      o.prefetch = 0;
                      o.transform = nullptr;
                      return o;
                    }()),
      device_(options.device),
      batch_size_(options.batch_size) {
  const std::string why = blocker(*data, options, tables, std::numeric_limits<std::int64_t>::max());
  require<ValueError>(why.empty(), "ResidentLoader: ", why);
  if (device_.is_cuda()) cuda::require_device(device_);
  const datasets::Dataset& d = *data;
  const std::int64_t n = d.size(), chw = d.image_numel();
  const std::vector<float>& table = order_source_.lookup_table();
  images_ = empty({n, d.channels, d.height, d.width}, DType::F32, device_);
  for (std::int64_t begin = 0; begin < n; begin += kUploadChunkRows) {
    const std::int64_t end = std::min(n, begin + kUploadChunkRows);
    const Tensor host =
        device_.is_cpu() ? images_.slice(begin, end) : empty({end - begin, d.channels, d.height, d.width}, DType::F32);
    float* dst = host.data<float>();
    for (std::int64_t i = begin; i < end; ++i) {
      const datasets::AugmentParams p = datasets::sample_augment(options.augmentation, options.seed, 0, i);
      datasets::transform_image(d.image(i), d.channels, d.height, d.width, table.data(), 0, p, dst + (i - begin) * chw);
    }
    if (!device_.is_cpu()) copy_into(images_.slice(begin, end), host);
  }
  labels_ = from_vector<std::int64_t>(d.labels, {n}, device_);
  for (std::size_t k = 0; k < tables.size(); ++k) {
    const Tensor& t = tables[k];
    require<ShapeError>(t.defined() && t.dim() >= 1 && t.size(0) == n, "ResidentLoader: table ", k,
                        " must have one row per sample (", n, "), found ",
                        t.defined() ? shape_str(t.shape()) : std::string("an undefined tensor"));
    tables_.push_back(t.detach().to(device_));
  }
  bytes_ = resident_bytes(d, tables_);
}

void ResidentLoader::start_epoch(std::int64_t epoch) {
  const std::vector<std::int64_t> order = order_source_.epoch_order(epoch);
  order_ = from_vector<std::int64_t>(order, {static_cast<std::int64_t>(order.size())}, device_);
  epoch_ = epoch;
  next_number_ = 0;
}

bool ResidentLoader::next(datasets::Batch& out) {
  require<ValueError>(epoch_ >= 0, "ResidentLoader: call start_epoch(epoch) before next()");
  if (next_number_ >= batches_per_epoch()) return false;
  const std::int64_t begin = next_number_ * batch_size_;
  const std::int64_t end = std::min(begin + batch_size_, order_.size(0));
  datasets::Batch b;
  b.epoch = epoch_;
  b.number = next_number_++;
  b.indices = order_.slice(begin, end);
  b.images = ops::index_rows(images_, b.indices);
  b.labels = ops::index_rows(labels_, b.indices);
  for (const Tensor& t : tables_) b.extras.push_back(ops::index_rows(t, b.indices));
  out = std::move(b);
  return true;
}

TrainBatches::TrainBatches(std::shared_ptr<const datasets::Dataset> data, datasets::LoaderOptions options,
                           DataResidency r, std::vector<Tensor> tables) {
  require<ValueError>(data != nullptr, "TrainBatches: no data set");
  require<ValueError>(tables.empty() || !options.transform,
                      "TrainBatches: give per-sample tables or a LoaderOptions::transform, not both");
  decision_ = decide_residency(r, *data, options, tables);
  if (decision_.resident) {
    resident_ = std::make_unique<ResidentLoader>(std::move(data), std::move(options), std::move(tables));
    return;
  }
  if (!tables.empty()) {
    options.transform = [tables](datasets::Batch& b) {
      for (const Tensor& table : tables) b.extras.push_back(gather_rows(table, b.indices));
    };
  }
  host_ = std::make_unique<datasets::DataLoader>(std::move(data), std::move(options));
}

TrainBatches::~TrainBatches() = default;

std::int64_t TrainBatches::batches_per_epoch() const {
  return resident_ ? resident_->batches_per_epoch() : host_->batches_per_epoch();
}

void TrainBatches::start_epoch(std::int64_t epoch) {
  if (resident_)
    resident_->start_epoch(epoch);
  else
    host_->start_epoch(epoch);
}

bool TrainBatches::next(datasets::Batch& out) {
  return resident_ ? resident_->next(out) : host_->next(out);
}

}  // namespace distill
}  // namespace kdcu
