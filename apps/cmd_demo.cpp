// `kdcu demo`: a linear softmax classifier trained by plain SGD on synthetic data (labels from a
// hidden random linear model plus noise). It exercises tensors, autograd and the CPU ops end to
// end; it is a stand-in for the main job until the teacher -> student pipeline exists.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "core/autograd.h"
#include "core/factories.h"
#include "ops/elementwise.h"
#include "ops/linear.h"
#include "ops/loss.h"
#include "ops/reduce.h"

namespace kdcu {
namespace app {
namespace {

struct DemoOptions {
  int epochs = 15;
  int samples = 6000;
  int features = 32;
  int classes = 10;
  int batch = 100;
  double lr = 0.5;
  double noise = 1.0;
  std::uint64_t seed = 0;
  int threads = 0;
  std::string device = "auto";
  bool json = false;
};

struct Split {
  Tensor x, y;
};

// x ~ N(0, 1); y = argmax(x W*^T + noise), W* ~ N(0, 1): linearly learnable up to the noise.
void make_data(const DemoOptions& o, Generator& gen, Split& train, Split& test) {
  const Tensor w_true = randn({o.classes, o.features}, gen);
  const Tensor x = randn({o.samples, o.features}, gen);
  const Tensor scores =
      ops::linear(x, w_true, Tensor()) + randn({o.samples, o.classes}, gen, DType::F32, Device::cpu(), 0.0, o.noise);
  const Tensor y = ops::argmax(scores, 1);
  const std::int64_t n_train = o.samples * 4 / 5;
  train = {x.slice(0, n_train), y.slice(0, n_train)};
  test = {x.slice(n_train, o.samples), y.slice(n_train, o.samples)};
}

double accuracy(const Tensor& w, const Tensor& b, const Split& s) {
  autograd::NoGradGuard no_grad;
  const std::vector<std::int64_t> pred = ops::argmax(ops::linear(s.x, w, b), 1).to_vector<std::int64_t>();
  const std::vector<std::int64_t> truth = s.y.to_vector<std::int64_t>();
  std::int64_t right = 0;
  for (size_t i = 0; i < pred.size(); ++i) right += pred[i] == truth[i];
  return pred.empty() ? 0.0 : static_cast<double>(right) / static_cast<double>(pred.size());
}

int run_demo(const DemoOptions& o) {
  require<ValueError>(o.device == "auto" || o.device == "cpu",
                      "demo runs on the CPU in this version (its CUDA kernels are not written yet); found --device ",
                      o.device);
  require<ValueError>(o.samples >= 10 && o.features >= 1 && o.classes >= 2 && o.batch >= 1 && o.epochs >= 1,
                      "demo: need samples >= 10, features >= 1, classes >= 2, batch >= 1, epochs >= 1");
  const int threads = apply_threads(o.threads);
  Generator gen(o.seed);
  Split train, test;
  make_data(o, gen, train, test);
  Tensor w = zeros({o.classes, o.features}), b = zeros({o.classes});
  w.requires_grad_();
  b.requires_grad_();
  std::cerr << "demo: linear softmax classifier, " << train.x.size(0) << " train / " << test.x.size(0)
            << " test samples, " << o.features << " features, " << o.classes << " classes, cpu, " << threads
            << " threads (synthetic data; not the distillation pipeline)\n";
  const auto start = std::chrono::steady_clock::now();
  double last_loss = 0.0;
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    double loss_sum = 0.0;
    int batches = 0;
    for (std::int64_t i = 0; i < train.x.size(0); i += o.batch) {
      const std::int64_t end = std::min<std::int64_t>(i + o.batch, train.x.size(0));
      const Tensor loss = ops::cross_entropy(ops::linear(train.x.slice(i, end), w, b), train.y.slice(i, end));
      loss.backward();
      {
        autograd::NoGradGuard no_grad;
        for (Tensor* p : {&w, &b}) {
          copy_into(*p, *p - o.lr * p->grad());
          p->zero_grad();
        }
      }
      loss_sum += loss.item<double>();
      ++batches;
    }
    last_loss = loss_sum / batches;
    std::cerr << "epoch " << epoch << "/" << o.epochs << "  loss " << last_loss << "  train acc "
              << accuracy(w, b, train) << "  test acc " << accuracy(w, b, test) << "\n";
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double test_acc = accuracy(w, b, test);
  std::cerr << "demo: test accuracy " << test_acc << " (chance " << 1.0 / o.classes << ") in " << seconds << " s\n";
  if (o.json) {
    std::cout << nlohmann::json{{"command", "demo"},
                                {"test_accuracy", test_acc},
                                {"train_accuracy", accuracy(w, b, train)},
                                {"final_loss", last_loss},
                                {"train_seconds", seconds},
                                {"device", "cpu"},
                                {"threads", threads},
                                {"seed", o.seed}}
                     .dump()
              << "\n";
  }
  return 0;
}

}  // namespace

Runner add_demo_command(CLI::App& app) {
  auto o = std::make_shared<DemoOptions>();
  auto* cmd = app.add_subcommand("demo",
                                 "Train a linear softmax classifier on synthetic data (a smoke test of the "
                                 "tensor/autograd stack; the distillation pipeline is not written yet)");
  cmd->add_option("--epochs", o->epochs, "Passes over the training set")->capture_default_str();
  cmd->add_option("--samples", o->samples, "Synthetic samples (80% train, 20% test)")->capture_default_str();
  cmd->add_option("--features", o->features, "Input features")->capture_default_str();
  cmd->add_option("--classes", o->classes, "Classes")->capture_default_str();
  cmd->add_option("--batch", o->batch, "Mini-batch size")->capture_default_str();
  cmd->add_option("--lr", o->lr, "SGD learning rate")->capture_default_str();
  cmd->add_option("--noise", o->noise, "Label noise (std of the noise added to the hidden scores)")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed for data and initialisation")->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU threads (0 = all cores)")->capture_default_str();
  cmd->add_option("--device", o->device, "auto or cpu")->capture_default_str();
  cmd->add_flag("--json", o->json, "Print the final result as one JSON object on stdout");
  return [o] { return run_demo(*o); };
}

}  // namespace app
}  // namespace kdcu
