// Training-step throughput: images/s of one optimizer step (forward, loss, backward, SGD with
// momentum) for a registered model at a batch size, plain (cross-entropy) and KD (a teacher
// forward under no-grad, then the KD + CE loss). Synthetic N(0, 1) inputs of the model's input
// shape; the median of the timed steps after warm-up. The optimizer is the project's default
// recipe's: SGD lr 0.05, momentum 0.9 (Nesterov), weight decay 5e-4; KD is
// 0.9 * KD(T = 4) + 0.1 * CE. bench/compare_torch_train.py times the same steps in PyTorch.
//   bench_train_step [--model cnn_small] [--teacher resnet20] [--batch 256] [--steps 10]
//                    [--device cpu|cuda] [--threads N] [--json]
//   --json: instead of the table, one JSON object per line per measured case: model, teacher
//           (null for plain), mode (plain|kd), batch, device, threads, steps, images_per_s,
//           median_step_s.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/cuda_runtime.h"
#include "core/error.h"
#include "core/factories.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "ops/elementwise.h"
#include "ops/loss.h"

namespace {

using namespace kdcu;
using Clock = std::chrono::steady_clock;

struct Options {
  std::vector<std::string> models = {"cnn_small", "resnet20"};
  std::string teacher = "resnet20";
  std::int64_t batch = 256;
  int steps = 10;
  std::string device = "cpu";
  bool json = false;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Seconds per step (median) of `steps` timed steps after 2 warm-up steps.
double time_steps(nn::Model& student, nn::Model* teacher, const Options& o, const Device& dev) {
  Generator gen(7);
  const nn::ModelConfig& cfg = student.config();
  Tensor x = randn({o.batch, cfg.in_channels, cfg.image_size, cfg.image_size}, gen).to(dev);
  std::vector<std::int64_t> labels(static_cast<size_t>(o.batch));
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int64_t>(i) % cfg.num_classes;
  Tensor y = from_vector(labels, {o.batch}).to(dev);
  nn::SGD opt(student.named_parameters(), 0.05, 0.9, 0.0, 5e-4, /*nesterov=*/true);
  std::vector<double> times;
  for (int s = 0; s < o.steps + 2; ++s) {
    const auto t0 = Clock::now();
    Tensor loss;
    const Tensor logits = student(x);
    if (teacher != nullptr) {
      Tensor t_logits;
      {
        autograd::NoGradGuard no_grad;
        t_logits = (*teacher)(x);
      }
      loss =
          ops::add(ops::mul(ops::kd_kl_div(logits, t_logits, 4.0), 0.9), ops::mul(ops::cross_entropy(logits, y), 0.1));
    } else {
      loss = ops::cross_entropy(logits, y);
    }
    loss.backward();
    opt.step();
    opt.zero_grad();
    (void)loss.item<float>();  // the one host round trip a training loop makes (the logged loss)
    if (s >= 2) times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return median(times);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  int threads = 0;
  for (int i = 1; i < argc; ++i) {
    const auto value = [&](const char* flag) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_train_step: %s needs a value\n", flag);
        std::exit(2);
      }
      return argv[++i];
    };
    if (std::strcmp(argv[i], "--model") == 0) {
      o.models = {value("--model")};
    } else if (std::strcmp(argv[i], "--teacher") == 0) {
      o.teacher = value("--teacher");
    } else if (std::strcmp(argv[i], "--batch") == 0) {
      o.batch = std::atoll(value("--batch"));
    } else if (std::strcmp(argv[i], "--steps") == 0) {
      o.steps = std::atoi(value("--steps"));
    } else if (std::strcmp(argv[i], "--device") == 0) {
      o.device = value("--device");
    } else if (std::strcmp(argv[i], "--threads") == 0) {
      threads = std::atoi(value("--threads"));
    } else if (std::strcmp(argv[i], "--json") == 0) {
      o.json = true;
    } else {
      std::fprintf(stderr,
                   "bench_train_step: unknown option '%s' (expected --model, --teacher, --batch, --steps, "
                   "--device, --threads, --json)\n",
                   argv[i]);
      return 2;
    }
  }
  if (o.batch < 1 || o.steps < 1) {
    std::fprintf(stderr, "bench_train_step: --batch and --steps must be >= 1\n");
    return 2;
  }
  try {
    const Device dev = o.device == "cuda" ? Device::cuda(0) : Device::cpu();
    if (dev.is_cuda() && !cuda::available()) {
      std::printf("bench_train_step: skipped: CUDA unavailable: %s\n", cuda::availability().reason.c_str());
      return 0;
    }
    if (threads > 0) omp_set_num_threads(threads);
    if (!o.json) {
      std::printf("training step, batch %lld, SGD momentum 0.9, %s, %d threads; KD adds a %s teacher forward\n",
                  static_cast<long long>(o.batch), dev.str().c_str(), omp_get_max_threads(), o.teacher.c_str());
      std::printf("%-12s %-6s %12s %12s\n", "model", "loss", "ms/step", "images/s");
    }
    Generator gen(1);
    nn::ModelConfig cfg;
    auto teacher = nn::create_model(o.teacher, cfg, gen);
    teacher->to(dev);
    teacher->eval();
    for (const std::string& name : o.models) {
      auto student = nn::create_model(name, cfg, gen);
      student->to(dev);
      student->train();
      for (const bool kd : {false, true}) {
        const double s = time_steps(*student, kd ? teacher.get() : nullptr, o, dev);
        if (o.json) {
          // Model names are registry names ([a-z0-9_]), so they need no JSON escaping.
          std::printf(
              "{\"model\": \"%s\", \"teacher\": %s, \"mode\": \"%s\", \"batch\": %lld, \"device\": \"%s\", "
              "\"threads\": %d, \"steps\": %d, \"images_per_s\": %.6g, \"median_step_s\": %.6g}\n",
              name.c_str(), kd ? ("\"" + o.teacher + "\"").c_str() : "null", kd ? "kd" : "plain",
              static_cast<long long>(o.batch), dev.str().c_str(), omp_get_max_threads(), o.steps,
              static_cast<double>(o.batch) / s, s);
        } else {
          std::printf("%-12s %-6s %12.2f %12.0f\n", name.c_str(), kd ? "kd" : "ce", s * 1e3,
                      static_cast<double>(o.batch) / s);
        }
        std::fflush(stdout);
      }
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_train_step: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
