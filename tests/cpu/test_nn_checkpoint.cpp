// Weights files and training checkpoints (nn/checkpoint.h): a weights round trip into a model of
// another seed; a training run interrupted by a checkpoint and resumed in fresh objects that ends
// bitwise equal to the uninterrupted run (SGD nesterov + weight decay and Adam, a warm-up + cosine
// schedule, gradient clipping, dropout and the data shuffle drawing from the checkpointed
// generator); every way a load can be wrong, each a typed error that changes nothing; saves that
// leave no temporary and never damage an existing file.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/factories.h"
#include "core/safetensors.h"
#include "nn/batch_norm.h"
#include "nn/checkpoint.h"
#include "nn/clip.h"
#include "nn/lr_schedule.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "ops/loss.h"
#include "tests/support/temp_dir.h"
#include "tests/support/checks.h"

namespace kdcu {
namespace {
using testing::bytes_of;

namespace fs = std::filesystem;
using testing::throws_with;
using MakeOptimizer = std::function<std::unique_ptr<nn::Optimizer>(const nn::NamedTensors&)>;

// A fresh directory per test, removed afterwards.
struct TempDir : testing::TempDir {
  TempDir() : testing::TempDir("ckpt") {}
  // Leftover temporaries ("<target>.tmp.<pid>.<n>") in the directory.
  std::vector<std::string> temporaries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(path))
      if (e.path().filename().string().find(".tmp.") != std::string::npos) out.push_back(e.path().string());
    return out;
  }
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The raw bytes of a CPU tensor: "bitwise equal" means these are equal.
// Everything a resumed run must reproduce, as (name, bytes) in a fixed order: the model's
// state_dict (parameters and buffers), the optimizer's state tensors and metadata, and the
// run's generator.
using Snapshot = std::vector<std::pair<std::string, std::string>>;

Snapshot snapshot(const nn::Module& model, const nn::Optimizer* opt, const Generator* rng = nullptr) {
  Snapshot s;
  for (const auto& [n, t] : model.state_dict())
    s.emplace_back("model." + n, dtype_name(t.dtype()) + shape_str(t.shape()) + ":" + bytes_of(t));
  if (opt) {
    const nn::OptimizerState os = opt->state_dict();
    for (const auto& [n, t] : os.tensors)
      s.emplace_back("optimizer." + n, dtype_name(t.dtype()) + shape_str(t.shape()) + ":" + bytes_of(t));
    for (const auto& [k, v] : os.metadata) s.emplace_back("optimizer.meta." + k, v);
  }
  if (rng) s.emplace_back("rng", std::to_string(rng->seed()) + "/" + std::to_string(rng->offset()));
  return s;
}

// Equal names in the same order and equal bytes; the message names the first few differences.
::testing::AssertionResult same_snapshot(const Snapshot& actual, const Snapshot& expected) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << actual.size() << " entries, expected " << expected.size();
  int differences = 0;
  std::string which;
  for (size_t i = 0; i < actual.size(); ++i) {
    if (actual[i] == expected[i]) continue;
    if (++differences <= 5) which += " " + expected[i].first + (actual[i].first != expected[i].first ? "(name)" : "");
  }
  if (differences == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << differences << " of " << actual.size() << " entries differ:" << which;
}

// A fixed synthetic data set: n images [1, S, S] of normal noise, labels i % classes.
struct Data {
  std::int64_t n = 0, image_size = 0;
  std::vector<float> x;
  std::vector<std::int64_t> y;
};

Data make_data(std::int64_t n, std::int64_t image_size, std::int64_t classes, std::uint64_t seed) {
  Generator gen(seed);
  Data d;
  d.n = n;
  d.image_size = image_size;
  d.x = randn({n, 1, image_size, image_size}, gen).to_vector<float>();
  for (std::int64_t i = 0; i < n; ++i) d.y.push_back(i % classes);
  return d;
}

std::pair<Tensor, Tensor> batch(const Data& d, const std::vector<std::int64_t>& order, std::int64_t begin,
                                std::int64_t size) {
  const std::int64_t per = d.image_size * d.image_size;
  std::vector<float> x;
  std::vector<std::int64_t> y;
  for (std::int64_t i = begin; i < begin + size; ++i) {
    const std::int64_t j = order[static_cast<size_t>(i)];
    x.insert(x.end(), d.x.begin() + j * per, d.x.begin() + (j + 1) * per);
    y.push_back(d.y[static_cast<size_t>(j)]);
  }
  return {from_vector<float>(x, {size, 1, d.image_size, d.image_size}), from_vector<std::int64_t>(y)};
}

// A permutation of [0, n) drawn from `rng` (sorting uniform keys): the shuffle of one epoch.
std::vector<std::int64_t> shuffle(std::int64_t n, Generator& rng) {
  const std::vector<double> keys = rand({n}, rng, DType::F64).to_vector<double>();
  std::vector<std::int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return keys[a] < keys[b]; });
  return order;
}

constexpr std::int64_t kImage = 8, kClasses = 10, kExamples = 48, kBatch = 16;
constexpr std::int64_t kBatchesPerEpoch = kExamples / kBatch;
constexpr std::int64_t kTotalSteps = 4 * kBatchesPerEpoch;  // K
constexpr std::int64_t kResumeStep = 2 * kBatchesPerEpoch;  // k: the checkpoint is taken after 2 epochs
constexpr double kMaxNorm = 0.5;                            // small enough to clip (checked)

nn::ModelConfig small_config() {
  nn::ModelConfig cfg;
  cfg.in_channels = 1;
  cfg.image_size = kImage;
  cfg.num_classes = kClasses;
  return cfg;
}

// A training run: the model, its optimizer, and the run's generator, which shuffles the data at
// each epoch's start and drives the model's dropout (Model::set_generator).
struct TrainRun {
  nn::ModelPtr model;
  std::unique_ptr<nn::Optimizer> opt;
  std::shared_ptr<Generator> rng;
  std::int64_t epoch = 0, step = 0;
  std::vector<std::int64_t> order;
  std::vector<std::string> losses;  // bytes of each step's loss
  std::vector<double> norms;        // each step's gradient norm before clipping
};

TrainRun start(const std::string& model_name, const MakeOptimizer& make, std::uint64_t init_seed,
               std::uint64_t rng_seed) {
  Generator init(init_seed);
  TrainRun r;
  r.model = nn::create_model(model_name, small_config(), init);
  r.opt = make(r.model->named_parameters());
  r.rng = std::make_shared<Generator>(rng_seed);
  r.model->set_generator(r.rng);
  r.model->train();
  return r;
}

// Trains until r.step == until: warm-up + cosine lr at the optimizer's own step count, the
// epoch's shuffle from r.rng, cross-entropy, gradient clipping by the global norm.
void train_until(TrainRun& r, const Data& d, const nn::LrSchedule& schedule, std::int64_t until) {
  for (; r.step < until; ++r.step) {
    const std::int64_t b = r.step % kBatchesPerEpoch;
    if (b == 0) r.order = shuffle(d.n, *r.rng);
    nn::apply_schedule(*r.opt, schedule);
    r.opt->zero_grad();
    const auto [x, y] = batch(d, r.order, b * kBatch, kBatch);
    const Tensor loss = ops::cross_entropy((*r.model)(x), y);
    loss.backward();
    r.norms.push_back(nn::clip_grad_norm(r.model->named_parameters(), kMaxNorm));
    r.opt->step();
    r.losses.push_back(bytes_of(loss));
    if (b == kBatchesPerEpoch - 1) ++r.epoch;
  }
}

std::shared_ptr<const nn::LrSchedule> warmup_cosine(double base_lr) {
  const std::int64_t warmup = 3;
  return std::make_shared<nn::LinearWarmupLR>(
      std::make_shared<nn::CosineAnnealingLR>(base_lr, kTotalSteps - warmup, 0.1 * base_lr), warmup, 0.2);
}

MakeOptimizer sgd_nesterov() {
  return [](const nn::NamedTensors& ps) { return std::make_unique<nn::SGD>(ps, 0.05, 0.9, 0.0, 5e-4, true); };
}
MakeOptimizer adam() {
  return [](const nn::NamedTensors& ps) {
    return std::make_unique<nn::Adam>(ps, 1e-3, std::make_pair(0.9, 0.99), 1e-8, 1e-4);
  };
}

// Train K steps straight; separately train k steps, checkpoint, drop everything, rebuild from
// another seed, load, train to K: every tensor, the optimizer state, the generator and the losses
// after k are bitwise the straight run's.
void check_resume(const std::string& model_name, const MakeOptimizer& make, const std::string& opt_name) {
  SCOPED_TRACE(model_name + " + " + opt_name);
  const Data data = make_data(kExamples, kImage, kClasses, 77);
  const auto schedule = warmup_cosine(opt_name == "SGD" ? 0.05 : 1e-3);
  TempDir dir;
  const std::string path = dir.file("run.ckpt.safetensors");

  TrainRun straight = start(model_name, make, 1, 42);
  train_until(straight, data, *schedule, kTotalSteps);
  ASSERT_EQ(straight.losses.size(), static_cast<size_t>(kTotalSteps));
  // The run really clipped, and the schedule really moved the lr.
  EXPECT_GT(*std::max_element(straight.norms.begin(), straight.norms.end()), kMaxNorm);
  EXPECT_NE(schedule->lr_at(0), schedule->lr_at(kResumeStep));
  const Snapshot expected = snapshot(*straight.model, straight.opt.get(), straight.rng.get());

  Snapshot at_checkpoint;
  std::vector<std::string> losses_before;
  {
    TrainRun first = start(model_name, make, 1, 42);
    train_until(first, data, *schedule, kResumeStep);
    losses_before = first.losses;
    at_checkpoint = snapshot(*first.model, first.opt.get(), first.rng.get());
    nn::TrainingState state;
    state.epoch = first.epoch;
    state.step = first.step;
    state.rng = *first.rng;
    state.extra["note"] = "resume test";
    nn::save_checkpoint(path, *first.model, first.opt.get(), state);
  }  // model, optimizer and generator destroyed

  // Fresh objects from other seeds: nothing of the first run survives but the file.
  TrainRun resumed = start(model_name, make, 1234, 999);
  resumed.opt->set_lr(7.0);  // the checkpoint brings its own lr back
  EXPECT_FALSE(same_snapshot(snapshot(*resumed.model, resumed.opt.get(), resumed.rng.get()), at_checkpoint));
  const nn::TrainingState state = nn::load_checkpoint(path, *resumed.model, resumed.opt.get());
  EXPECT_EQ(state.epoch, kResumeStep / kBatchesPerEpoch);
  EXPECT_EQ(state.step, kResumeStep);
  EXPECT_EQ(state.extra, (std::map<std::string, std::string>{{"note", "resume test"}}));
  EXPECT_EQ(resumed.opt->steps(), kResumeStep);
  resumed.rng = std::make_shared<Generator>(state.rng);
  resumed.model->set_generator(resumed.rng);
  resumed.epoch = state.epoch;
  resumed.step = state.step;
  EXPECT_TRUE(same_snapshot(snapshot(*resumed.model, resumed.opt.get(), resumed.rng.get()), at_checkpoint));

  // The generator matters: the same checkpoint continued with another generator state takes a
  // different step (so the comparison below would notice a generator that was not restored).
  {
    TrainRun wrong = start(model_name, make, 5, 6);
    nn::load_checkpoint(path, *wrong.model, wrong.opt.get());
    wrong.rng->set_state(state.rng.seed() + 1, state.rng.offset());
    wrong.epoch = state.epoch;
    wrong.step = state.step;
    train_until(wrong, data, *schedule, kResumeStep + 1);
    EXPECT_NE(wrong.losses[0], straight.losses[kResumeStep]);
  }

  train_until(resumed, data, *schedule, kTotalSteps);
  EXPECT_EQ(resumed.epoch, straight.epoch);
  EXPECT_TRUE(same_snapshot(snapshot(*resumed.model, resumed.opt.get(), resumed.rng.get()), expected));
  ASSERT_EQ(resumed.losses.size(), static_cast<size_t>(kTotalSteps - kResumeStep));
  for (std::int64_t i = 0; i < kTotalSteps; ++i) {
    const std::string& loss = i < kResumeStep ? losses_before[i] : resumed.losses[i - kResumeStep];
    EXPECT_EQ(loss, straight.losses[i]) << "loss of step " << i;
  }
  EXPECT_TRUE(dir.temporaries().empty());
}

// save_weights -> load_weights into the same architecture built from another seed: the same
// state_dict bytes and the same logits. Also loads the model part of a training checkpoint.
TEST(NnCheckpoint, WeightsRoundTripIsBitwise) {
  TempDir dir;
  for (const std::string name : {"cnn_small", "resnet20", "mlp_teacher"}) {
    SCOPED_TRACE(name);
    Generator a(1), b(2);
    const nn::ModelPtr src = nn::create_model(name, small_config(), a);
    const nn::ModelPtr dst = nn::create_model(name, small_config(), b);
    const Tensor x = randn({3, 1, kImage, kImage}, a);
    {
      autograd::NoGradGuard no_grad;
      (*src)(x);  // a training forward: BatchNorm running statistics become non-trivial
    }
    src->eval();
    dst->eval();
    EXPECT_FALSE(same_snapshot(snapshot(*dst, nullptr), snapshot(*src, nullptr)));
    const std::string path = dir.file(name + ".safetensors");
    nn::save_weights(path, *src, {{"origin", "test"}});
    const std::map<std::string, std::string> meta = nn::load_weights(path, *dst);
    EXPECT_EQ(meta.at("origin"), "test");
    EXPECT_TRUE(same_snapshot(snapshot(*dst, nullptr), snapshot(*src, nullptr)));
    autograd::NoGradGuard no_grad;
    EXPECT_EQ(bytes_of((*dst)(x)), bytes_of((*src)(x)));

    // The weights file is the plain state_dict under PyTorch's names.
    const SafetensorsFile f = load_safetensors(path);
    const nn::NamedTensors state = src->state_dict();
    ASSERT_EQ(f.tensors.size(), state.size());
    for (size_t i = 0; i < state.size(); ++i) EXPECT_EQ(f.tensors[i].first, state[i].first);

    // load_weights also takes the model part of a training checkpoint.
    Generator c(3);
    const nn::ModelPtr third = nn::create_model(name, small_config(), c);
    nn::SGD opt(src->named_parameters(), 0.1);
    const nn::TrainingState training_state;
    nn::save_checkpoint(dir.file(name + ".ckpt"), *src, &opt, training_state);
    nn::load_weights(dir.file(name + ".ckpt"), *third);
    EXPECT_TRUE(same_snapshot(snapshot(*third, nullptr), snapshot(*src, nullptr)));
  }
}

TEST(NnCheckpoint, ResumeMlpTeacherWithSgdNesterovIsBitwise) {
  check_resume("mlp_teacher", sgd_nesterov(), "SGD");
}

TEST(NnCheckpoint, ResumeMlpTeacherWithAdamIsBitwise) {
  check_resume("mlp_teacher", adam(), "Adam");
}

// BatchNorm buffers (running statistics, num_batches_tracked) resume too.
TEST(NnCheckpoint, ResumeResNet20WithSgdNesterovIsBitwise) {
  check_resume("resnet20", sgd_nesterov(), "SGD");
}

TEST(NnCheckpoint, ResumeResNet20WithAdamIsBitwise) {
  check_resume("resnet20", adam(), "Adam");
}

// A model + optimizer that have taken two steps (so the optimizer has state to lose).
TrainRun trained(const std::string& model_name, const MakeOptimizer& make, std::uint64_t seed) {
  const Data data = make_data(kExamples, kImage, kClasses, 77);
  TrainRun r = start(model_name, make, seed, seed + 100);
  train_until(r, data, nn::ConstantLR(0.01), 2);
  return r;
}

TEST(NnCheckpoint, BadLoadsThrowTypedErrorsAndChangeNothing) {
  TempDir dir;
  TrainRun source = trained("mlp_teacher", sgd_nesterov(), 1);
  nn::TrainingState state;
  state.epoch = 1;
  state.step = 2;
  const std::string ckpt = dir.file("mlp.ckpt"), weights = dir.file("mlp.weights");
  nn::save_checkpoint(ckpt, *source.model, source.opt.get(), state);
  nn::save_weights(weights, *source.model);

  // Each case: a target model + optimizer, a load that must fail, the error, what it must say.
  auto expect_unchanged = [](TrainRun& target, const std::function<void()>& load, const auto& check) {
    const Snapshot before = snapshot(*target.model, target.opt.get());
    EXPECT_TRUE(check(load));
    EXPECT_TRUE(same_snapshot(snapshot(*target.model, target.opt.get()), before));
  };

  {  // another architecture (same config, same optimizer kind)
    TrainRun other = trained("cnn_small", sgd_nesterov(), 2);
    expect_unchanged(
        other, [&] { nn::load_checkpoint(ckpt, *other.model, other.opt.get()); },
        [&](const std::function<void()>& f) {
          return throws_with<ValueError>(f, ckpt + ": the checkpoint's model does not match");
        });
    // Its parameter names are named in the report.
    EXPECT_TRUE(
        throws_with<ValueError>([&] { nn::load_checkpoint(ckpt, *other.model, other.opt.get()); }, "conv1.weight"));
    expect_unchanged(
        other, [&] { nn::load_weights(ckpt, *other.model); },
        [&](const std::function<void()>& f) { return throws_with<ValueError>(f, "fc3.weight"); });
  }
  {  // the same architecture with another optimizer kind
    TrainRun other = trained("mlp_teacher", adam(), 3);
    expect_unchanged(
        other, [&] { nn::load_checkpoint(ckpt, *other.model, other.opt.get()); },
        [&](const std::function<void()>& f) {
          return throws_with<ValueError>(f, "Adam load_state_dict: the state is of a 'SGD' optimizer");
        });
    // Without an optimizer to restore into.
    expect_unchanged(
        other, [&] { nn::load_checkpoint(ckpt, *other.model, nullptr); },
        [&](const std::function<void()>& f) {
          return throws_with<ValueError>(f, "holds optimizer state but no optimizer was given");
        });
  }
  TrainRun target = trained("mlp_teacher", sgd_nesterov(), 4);
  {  // a weights-only file is not a checkpoint
    expect_unchanged(
        target, [&] { nn::load_checkpoint(weights, *target.model, target.opt.get()); },
        [&](const std::function<void()>& f) {
          return throws_with<IoError>(f, weights + ": not a kdcu training checkpoint");
        });
  }
  {  // truncated: inside the data, and inside the header
    const std::string bytes = read_bytes(ckpt);
    ASSERT_GT(bytes.size(), 1000u);
    const std::string cut = dir.file("cut.ckpt");
    write_bytes(cut, bytes.substr(0, bytes.size() / 2));
    expect_unchanged(
        target, [&] { nn::load_checkpoint(cut, *target.model, target.opt.get()); },
        [&](const std::function<void()>& f) { return throws_with<IoError>(f, "but the data section holds only"); });
    write_bytes(cut, bytes.substr(0, 100));
    expect_unchanged(
        target, [&] { nn::load_checkpoint(cut, *target.model, target.opt.get()); },
        [&](const std::function<void()>& f) { return throws_with<IoError>(f, cut + ": header length"); });
    write_bytes(cut, bytes.substr(0, 5));
    expect_unchanged(
        target, [&] { nn::load_checkpoint(cut, *target.model, target.opt.get()); },
        [&](const std::function<void()>& f) { return throws_with<IoError>(f, cut + ": the file is 5 bytes"); });
  }
  {  // missing
    const std::string missing = dir.file("missing.ckpt");
    expect_unchanged(
        target, [&] { nn::load_checkpoint(missing, *target.model, target.opt.get()); },
        [&](const std::function<void()>& f) { return throws_with<IoError>(f, missing + ": cannot open"); });
    expect_unchanged(
        target, [&] { nn::load_weights(missing, *target.model); },
        [&](const std::function<void()>& f) { return throws_with<IoError>(f, "No such file"); });
  }
  // The good file still loads into the last target (so the failures above were the files' fault).
  nn::load_checkpoint(ckpt, *target.model, target.opt.get());
  EXPECT_TRUE(same_snapshot(snapshot(*target.model, target.opt.get()), snapshot(*source.model, source.opt.get())));
}

TEST(NnCheckpoint, SavesAreAtomicAndAFailedSaveDamagesNothing) {
  TempDir dir;
  TrainRun run = trained("cnn_small", adam(), 1);
  nn::TrainingState state;
  state.step = 2;
  const std::string path = dir.file("run.ckpt");
  nn::save_checkpoint(path, *run.model, run.opt.get(), state);
  EXPECT_TRUE(dir.temporaries().empty());
  const std::string first = read_bytes(path);

  // Saving over the existing checkpoint replaces it whole and leaves no temporary.
  const Data data = make_data(kExamples, kImage, kClasses, 77);
  train_until(run, data, nn::ConstantLR(0.01), 3);
  state.step = 3;
  nn::save_checkpoint(path, *run.model, run.opt.get(), state);
  EXPECT_TRUE(dir.temporaries().empty());
  const std::string second = read_bytes(path);
  EXPECT_NE(second, first);
  TrainRun back = trained("cnn_small", adam(), 9);
  EXPECT_EQ(nn::load_checkpoint(path, *back.model, back.opt.get()).step, 3);
  EXPECT_TRUE(same_snapshot(snapshot(*back.model, back.opt.get()), snapshot(*run.model, run.opt.get())));

  // A save that cannot be written (no such directory) is an IoError naming the path; the
  // existing checkpoint elsewhere is untouched and nothing is left behind.
  const std::string bad = dir.file("no_such_dir/run.ckpt");
  EXPECT_TRUE(throws_with<IoError>([&] { nn::save_checkpoint(bad, *run.model, run.opt.get(), state); },
                                   bad + ": cannot create the temporary file"));
  EXPECT_TRUE(throws_with<IoError>([&] { nn::save_weights(bad, *run.model); }, "cannot create the temporary file"));
  EXPECT_FALSE(fs::exists(dir.file("no_such_dir")));
  EXPECT_EQ(read_bytes(path), second);
  EXPECT_TRUE(dir.temporaries().empty());
  // A directory where the file should be: the rename fails after the data were written, and the
  // temporary is removed.
  fs::create_directory(dir.file("occupied"));
  EXPECT_TRUE(throws_with<IoError>([&] { nn::save_checkpoint(dir.file("occupied"), *run.model, run.opt.get(), state); },
                                   "cannot rename"));
  EXPECT_TRUE(fs::is_directory(dir.file("occupied")));
  EXPECT_TRUE(dir.temporaries().empty());
  EXPECT_EQ(read_bytes(path), second);
}

}  // namespace
}  // namespace kdcu
