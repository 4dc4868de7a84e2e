// The DataLoader's background thread: one producer per epoch filling a bounded queue. Batches are
// built by a pure function of (data, options, order, epoch, batch number), so the thread only
// changes when a batch is built, never what it holds.
#include "datasets/loader.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>

#include "core/cuda_runtime.h"
#include "core/error.h"
#include "datasets/sampling.h"

namespace kdcu {
namespace datasets {

// What the worker and the consumer share; the worker holds its own reference, so a worker that
// is being stopped never touches a freed queue.
struct DataLoader::Channel {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Batch> queue;
  std::exception_ptr error;
  bool done = false;    // the worker will add nothing more
  bool cancel = false;  // the consumer asks the worker to stop
};

DataLoader::DataLoader(std::shared_ptr<const Dataset> data, LoaderOptions options)
    : data_(std::move(data)), opt_(std::move(options)) {
  require<ValueError>(data_ != nullptr, "DataLoader: no data set");
  data_->validate();
  require<ValueError>(data_->size() > 0, "DataLoader: data set '", data_->name, "' is empty");
  require<ValueError>(opt_.batch_size >= 1, "DataLoader: batch_size must be >= 1, found ", opt_.batch_size);
  require<ValueError>(opt_.prefetch >= 0, "DataLoader: prefetch must be >= 0, found ", opt_.prefetch);
  const Augmentation& a = opt_.augmentation;
  require<ValueError>(a.crop_padding >= 0 && a.crop_padding <= (1 << 20), "DataLoader: crop padding must be in [0, ",
                      1 << 20, "], found ", a.crop_padding);
  const Normalization norm = opt_.normalization.mean.empty() && opt_.normalization.std.empty()
                                 ? no_normalization(data_->channels)
                                 : opt_.normalization;
  table_ = normalization_table(norm, data_->channels);
  if (opt_.device.is_cuda()) cuda::require_device(opt_.device);
}

DataLoader::~DataLoader() {
  stop();
}

std::int64_t DataLoader::batches_per_epoch() const {
  const std::int64_t n = data_->size(), b = opt_.batch_size;
  return opt_.drop_last ? n / b : (n + b - 1) / b;
}

std::int64_t DataLoader::samples_per_epoch() const {
  return opt_.drop_last ? batches_per_epoch() * opt_.batch_size : data_->size();
}

std::vector<std::int64_t> DataLoader::epoch_order(std::int64_t epoch) const {
  require<ValueError>(epoch >= 0, "DataLoader: epoch must be >= 0, found ", epoch);
  if (opt_.shuffle) return permutation(data_->size(), opt_.seed, Stream::Shuffle, static_cast<std::uint64_t>(epoch));
  std::vector<std::int64_t> order(static_cast<size_t>(data_->size()));
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
  return order;
}

Batch DataLoader::build(const std::vector<std::int64_t>& order, std::int64_t epoch, std::int64_t number) const {
  const Dataset& d = *data_;
  const std::int64_t begin = number * opt_.batch_size;
  const std::int64_t n = std::min(opt_.batch_size, d.size() - begin);
  const std::int64_t chw = d.image_numel();
  Batch b;
  b.epoch = epoch;
  b.number = number;
  b.images = empty({n, d.channels, d.height, d.width}, DType::F32);
  b.labels = empty({n}, DType::I64);
  b.indices = empty({n}, DType::I64);
  float* img = b.images.data<float>();
  std::int64_t* lab = b.labels.data<std::int64_t>();
  std::int64_t* idx = b.indices.data<std::int64_t>();
  for (std::int64_t k = 0; k < n; ++k) {
    const std::int64_t i = order[static_cast<size_t>(begin + k)];
    const AugmentParams p = sample_augment(opt_.augmentation, opt_.seed, epoch, i);
    transform_image(d.image(i), d.channels, d.height, d.width, table_.data(), opt_.augmentation.crop_padding, p,
                    img + k * chw);
    lab[k] = d.labels[static_cast<size_t>(i)];
    idx[k] = i;
  }
  if (opt_.transform) opt_.transform(b);
  if (opt_.device != Device::cpu()) {
    b.images = b.images.to(opt_.device);
    b.labels = b.labels.to(opt_.device);
    b.indices = b.indices.to(opt_.device);
    for (Tensor& t : b.extras) t = t.to(opt_.device);
  }
  return b;
}

void DataLoader::stop() {
  if (channel_) {
    {
      std::lock_guard<std::mutex> lock(channel_->mu);
      channel_->cancel = true;
    }
    channel_->cv.notify_all();
  }
  if (worker_.joinable()) worker_.join();
  channel_.reset();
}

void DataLoader::start_epoch(std::int64_t epoch) {
  stop();
  order_ = std::make_shared<const std::vector<std::int64_t>>(epoch_order(epoch));
  epoch_ = epoch;
  next_number_ = 0;
  if (opt_.prefetch == 0) return;
  auto ch = std::make_shared<Channel>();
  channel_ = ch;
  const std::int64_t count = batches_per_epoch();
  const auto capacity = static_cast<size_t>(opt_.prefetch);
  worker_ = std::thread([this, ch, order = order_, epoch, count, capacity] {
    try {
      for (std::int64_t number = 0; number < count; ++number) {
        {
          std::unique_lock<std::mutex> lock(ch->mu);
          ch->cv.wait(lock, [&] { return ch->cancel || ch->queue.size() < capacity; });
          if (ch->cancel) break;
        }
        Batch b = build(*order, epoch, number);
        std::lock_guard<std::mutex> lock(ch->mu);
        if (ch->cancel) break;
        ch->queue.push_back(std::move(b));
        ch->cv.notify_all();
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(ch->mu);
      ch->error = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(ch->mu);
    ch->done = true;
    ch->cv.notify_all();
  });
}

bool DataLoader::next(Batch& out) {
  require<ValueError>(epoch_ >= 0, "DataLoader: call start_epoch(epoch) before next()");
  if (opt_.prefetch == 0) {
    const std::int64_t count = batches_per_epoch();
    if (next_number_ >= count) return false;
    try {
      out = build(*order_, epoch_, next_number_++);
    } catch (...) {
      next_number_ = count;  // as with the background thread, an error ends the epoch
      throw;
    }
    ++stats_.batches;
    return true;
  }
  if (!channel_) return false;  // the epoch ended with an error that was already rethrown
  std::unique_lock<std::mutex> lock(channel_->mu);
  if (channel_->queue.empty() && !channel_->done) {
    const auto t0 = std::chrono::steady_clock::now();
    channel_->cv.wait(lock, [&] { return !channel_->queue.empty() || channel_->done; });
    ++stats_.waits;
    stats_.wait_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  if (!channel_->queue.empty()) {
    out = std::move(channel_->queue.front());
    channel_->queue.pop_front();
    lock.unlock();
    channel_->cv.notify_all();
    ++stats_.batches;
    return true;
  }
  if (channel_->error) {
    const std::exception_ptr e = channel_->error;
    lock.unlock();
    stop();  // the worker has finished; the epoch is over
    std::rethrow_exception(e);
  }
  return false;
}

}  // namespace datasets
}  // namespace kdcu
