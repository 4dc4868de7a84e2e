// Evaluation of a classifier on a labelled data set (accuracy, mean cross-entropy, per-class
// accuracy, confusion matrix) and its inference latency, in eval mode under no-grad.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/transforms.h"
#include "nn/model.h"

namespace kdcu {
namespace distill {

struct EvalResult {
  std::int64_t samples = 0, correct = 0;
  double accuracy = 0.0;                             // correct / samples, a fraction
  double loss = 0.0;                                 // mean cross-entropy
  std::vector<double> per_class_accuracy;            // [classes]; NaN for a class with no sample
  std::vector<std::vector<std::int64_t>> confusion;  // [true][predicted]
  double seconds = 0.0;
};

// `data` is normalised with `norm` (the training set's statistics) as the DataLoader does, without
// augmentation, in order. The model's train/eval mode is restored afterwards. ValueError when the
// data set's image shape or class count does not fit the model.
EvalResult evaluate(nn::Model& model, const datasets::Dataset& data, const datasets::Normalization& norm,
                    const Device& device, std::int64_t batch_size = 500);

// The logits of every sample of `data` in order ([N, classes], f32, on the CPU): what the
// soft-label cache stores. Same normalisation rule as evaluate.
Tensor predict_logits(nn::Model& model, const datasets::Dataset& data, const datasets::Normalization& norm,
                      const Device& device, std::int64_t batch_size = 500);

struct Latency {
  std::int64_t batch_size = 0;
  double ms_per_batch = 0.0;  // median of the timed runs
  double ms_per_image = 0.0;
  int runs = 0;
};
// Median time of a forward (eval, no-grad) of a batch of zeros, after warm-up, including the wait
// for the device to finish. Runs until `min_seconds` have been spent or `max_runs` are done.
Latency measure_latency(nn::Model& model, std::int64_t batch_size, const Device& device, double min_seconds = 0.5,
                        int max_runs = 50);

// The dtype of a model's first floating parameter (f32 when it has none): batches, which the
// loader builds in f32, are cast to it, so an f64 model (gradient checks) runs too.
DType model_dtype(const nn::Model& model);
Tensor as_model_input(const nn::Model& model, const Tensor& images);

// "Model: 92.31% (9231 / 10000)" style helpers for reports.
std::string percent(double fraction, int decimals = 2);

}  // namespace distill
}  // namespace kdcu
