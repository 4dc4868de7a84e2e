// Evaluation passes: batches of the data set in order through the model in eval mode under
// no-grad; predictions and the loss come back to the host once per batch.
#include "distill/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>

#include "core/autograd.h"
#include "core/cuda_runtime.h"
#include "core/error.h"
#include "core/factories.h"
#include "datasets/loader.h"
#include "ops/loss.h"
#include "ops/reduce.h"

namespace kdcu {
namespace distill {
namespace {

using Clock = std::chrono::steady_clock;

void check_fits(const nn::Model& model, const datasets::Dataset& data, const char* what) {
  const nn::ModelConfig& c = model.config();
  require<ValueError>(data.channels == c.in_channels && data.height == c.image_size && data.width == c.image_size, what,
                      ": the data set ", data.name, " has images ", data.channels, "x", data.height, "x", data.width,
                      " but the model ", model.name(), " expects ", c.in_channels, "x", c.image_size, "x",
                      c.image_size);
  require<ValueError>(data.num_classes <= c.num_classes, what, ": the data set ", data.name, " has ", data.num_classes,
                      " classes but the model ", model.name(), " predicts ", c.num_classes);
  require<ValueError>(data.size() > 0, what, ": the data set ", data.name, " is empty");
}

// Restores a model's train/eval mode when it goes out of scope.
class ModeGuard {
 public:
  explicit ModeGuard(nn::Model& m) : m_(m), was_(m.is_training()) { m_.eval(); }
  ~ModeGuard() { m_.train(was_); }
  ModeGuard(const ModeGuard&) = delete;
  ModeGuard& operator=(const ModeGuard&) = delete;

 private:
  nn::Model& m_;
  bool was_;
};

// An in-order, unaugmented loader over `data` (shared without a copy).
std::unique_ptr<datasets::DataLoader> ordered_loader(const datasets::Dataset& data, const datasets::Normalization& norm,
                                                     const Device& device, std::int64_t batch_size) {
  require<ValueError>(batch_size >= 1, "evaluation batch size must be >= 1, found ", batch_size);
  datasets::LoaderOptions o;
  o.batch_size = batch_size;
  o.shuffle = false;
  o.normalization = norm;
  o.device = device;
  // Not owned: the caller's data set outlives the loader.
  std::shared_ptr<const datasets::Dataset> view(&data, [](const datasets::Dataset*) {});
  auto loader = std::make_unique<datasets::DataLoader>(view, o);
  loader->start_epoch(0);
  return loader;
}

}  // namespace

DType model_dtype(const nn::Model& model) {
  for (const auto& [n, p] : model.named_parameters())
    if (p.dtype() == DType::F32 || p.dtype() == DType::F64) return p.dtype();
  return DType::F32;
}

Tensor as_model_input(const nn::Model& model, const Tensor& images) {
  const DType d = model_dtype(model);
  return images.dtype() == d ? images : images.to(d);
}

EvalResult evaluate(nn::Model& model, const datasets::Dataset& data, const datasets::Normalization& norm,
                    const Device& device, std::int64_t batch_size) {
  check_fits(model, data, "evaluate");
  const auto t0 = Clock::now();
  ModeGuard mode(model);
  autograd::NoGradGuard no_grad;
  const std::int64_t classes = model.config().num_classes;
  EvalResult r;
  r.confusion.assign(static_cast<size_t>(classes), std::vector<std::int64_t>(static_cast<size_t>(classes), 0));
  double loss_sum = 0.0;
  auto loader = ordered_loader(data, norm, device, batch_size);
  datasets::Batch b;
  while (loader->next(b)) {
    const Tensor logits = model(as_model_input(model, b.images));
    const double batch_loss = ops::cross_entropy(logits, b.labels, 0.0, ops::Reduction::Sum).item<double>();
    // On CUDA a bad label makes the loss NaN and is reported by the deferred check (before the
    // confusion matrix below would index by it).
    if (!std::isfinite(batch_loss)) ops::check_deferred_label_errors(logits.device());
    loss_sum += batch_loss;
    const std::vector<std::int64_t> pred = ops::argmax(logits, 1).to_vector<std::int64_t>();
    const std::vector<std::int64_t> truth = b.labels.to_vector<std::int64_t>();
    for (size_t i = 0; i < pred.size(); ++i) {
      ++r.confusion[static_cast<size_t>(truth[i])][static_cast<size_t>(pred[i])];
      r.correct += pred[i] == truth[i];
    }
    r.samples += static_cast<std::int64_t>(pred.size());
  }
  r.accuracy = static_cast<double>(r.correct) / static_cast<double>(r.samples);
  r.loss = loss_sum / static_cast<double>(r.samples);
  for (size_t c = 0; c < r.confusion.size(); ++c) {
    std::int64_t total = 0;
    for (std::int64_t v : r.confusion[c]) total += v;
    const std::int64_t right = r.confusion[c][c];
    r.per_class_accuracy.push_back(total > 0 ? static_cast<double>(right) / static_cast<double>(total)
                                             : std::numeric_limits<double>::quiet_NaN());
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

Tensor predict_logits(nn::Model& model, const datasets::Dataset& data, const datasets::Normalization& norm,
                      const Device& device, std::int64_t batch_size) {
  check_fits(model, data, "predict_logits");
  ModeGuard mode(model);
  autograd::NoGradGuard no_grad;
  const std::int64_t classes = model.config().num_classes;
  Tensor out = empty({data.size(), classes}, DType::F32);
  auto loader = ordered_loader(data, norm, device, batch_size);
  datasets::Batch b;
  std::int64_t row = 0;
  while (loader->next(b)) {
    Tensor logits = model(as_model_input(model, b.images)).to(Device::cpu());
    if (logits.dtype() != DType::F32) logits = logits.to(DType::F32);
    copy_into(out.slice(row, row + logits.size(0)), logits);
    row += logits.size(0);
  }
  return out;
}

Latency measure_latency(nn::Model& model, std::int64_t batch_size, const Device& device, double min_seconds,
                        int max_runs) {
  require<ValueError>(batch_size >= 1 && max_runs >= 1, "measure_latency: batch size and runs must be >= 1");
  ModeGuard mode(model);
  autograd::NoGradGuard no_grad;
  const nn::ModelConfig& c = model.config();
  const Tensor x = zeros({batch_size, c.in_channels, c.image_size, c.image_size}, DType::F32, device);
  const auto sync = [&] {
    if (device.is_cuda()) cuda::synchronize(device.index);
  };
  for (int i = 0; i < 2; ++i) (void)model(x);  // warm-up: caches, algorithm choices, pools
  sync();
  std::vector<double> ms;
  const auto start = Clock::now();
  while (static_cast<int>(ms.size()) < max_runs &&
         (ms.size() < 3 || std::chrono::duration<double>(Clock::now() - start).count() < min_seconds)) {
    const auto t0 = Clock::now();
    (void)model(x);
    sync();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  Latency l;
  l.batch_size = batch_size;
  l.runs = static_cast<int>(ms.size());
  l.ms_per_batch = ms[ms.size() / 2];
  l.ms_per_image = l.ms_per_batch / static_cast<double>(batch_size);
  return l;
}

std::string percent(double fraction, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f%%", decimals, fraction * 100.0);
  return buf;
}

}  // namespace distill
}  // namespace kdcu
