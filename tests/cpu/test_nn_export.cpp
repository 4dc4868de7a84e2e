// kdcu -> PyTorch weight interop, the kdcu half: resnet20 and cnn_small built by kdcu (fixed
// seed, non-trivial BatchNorm state) run a fixed input in eval and in train mode, and the weights
// ("model.<state_dict name>"), the input "x" and the logits "logits_eval" / "logits_train" go to
// <dir>/kdcu_export_<name>.safetensors, dir = $KDCU_EXPORT_DIR (created if missing; the files
// stay) or a temporary folder. tests/golden/check_kdcu_export.py loads those files into the
// PyTorch reference models (strict) and compares the logits; the ctest `nn_export_pytorch_check`
// runs both. Here each file is read back and checked on its own: the weights are the model's,
// bit for bit, and load into a model of another seed to give the very same logits.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/factories.h"
#include "core/safetensors.h"
#include "nn/batch_norm.h"
#include "nn/model.h"
#include "tests/support/checks.h"

namespace kdcu {
namespace {
using testing::bytes_of;

namespace fs = std::filesystem;

// $KDCU_EXPORT_DIR, or a temporary folder removed afterwards.
struct ExportDir {
  fs::path path;
  bool owned = false;
  ExportDir() {
    if (const char* env = std::getenv("KDCU_EXPORT_DIR"); env && *env) {
      path = env;
      fs::create_directories(path);
      return;
    }
    std::string tmpl = (fs::temp_directory_path() / "kdcu_export_XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
    owned = true;
  }
  ~ExportDir() {
    std::error_code ec;
    if (owned) fs::remove_all(path, ec);
  }
};

// Like tests/golden/make_models.py: running_mean ~ N(0, 0.1), running_var ~ U(0.5, 1.5),
// weight ~ U(0.5, 1.5), bias ~ N(0, 0.1), num_batches_tracked 1..., so eval mode really uses the
// running statistics and the affine parameters.
void randomise_batch_norm(nn::Model& model, Generator& gen) {
  std::int64_t tracked = 1;
  for (const auto& [n, m] : model.named_modules()) {
    const auto* bn = dynamic_cast<const nn::BatchNorm*>(m);
    if (!bn) continue;
    const Shape c{bn->num_features()};
    copy_into(bn->running_mean(), randn(c, gen, DType::F32, Device::cpu(), 0.0, 0.1));
    copy_into(bn->running_var(), rand(c, gen, DType::F32, Device::cpu(), 0.5, 1.5));
    copy_into(bn->weight(), rand(c, gen, DType::F32, Device::cpu(), 0.5, 1.5));
    copy_into(bn->bias(), randn(c, gen, DType::F32, Device::cpu(), 0.0, 0.1));
    copy_into(bn->num_batches_tracked(), scalar(static_cast<double>(tracked += 7), DType::I64));
  }
}

void export_model(const std::string& name, std::uint64_t seed, const fs::path& dir) {
  SCOPED_TRACE(name);
  Generator gen(seed);
  const nn::ModelPtr model = nn::create_model(name, {}, gen);  // 1 channel, 28x28, 10 classes
  randomise_batch_norm(*model, gen);
  const Tensor x = randn({2, 1, 28, 28}, gen);
  nn::NamedTensors state;  // copies: the train-mode forward below moves the running statistics
  for (const auto& [n, t] : model->state_dict()) state.emplace_back(n, t.clone());

  Tensor logits_eval, logits_train;
  {
    autograd::NoGradGuard no_grad;
    model->eval();
    logits_eval = (*model)(x);
    model->train();
    logits_train = (*model)(x);
  }
  nn::NamedTensors tensors;
  for (const auto& [n, t] : state) tensors.emplace_back("model." + n, t);
  tensors.emplace_back("x", x);
  tensors.emplace_back("logits_eval", logits_eval);
  tensors.emplace_back("logits_train", logits_train);
  const std::map<std::string, std::string> metadata = {
      {"producer", "kdcu tests/cpu/test_nn_export.cpp"},
      {"model", name},
      {"seed", std::to_string(seed)},
      {"config", R"({"in_channels": 1, "image_size": 28, "num_classes": 10})"}};
  const std::string path = (dir / ("kdcu_export_" + name + ".safetensors")).string();
  save_safetensors(path, tensors, metadata);

  // Read back: the same names in the same order, bit for bit, and the metadata.
  const SafetensorsFile f = load_safetensors(path);
  EXPECT_EQ(f.metadata, metadata);
  ASSERT_EQ(f.tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(f.tensors[i].first, tensors[i].first);
    EXPECT_EQ(f.tensors[i].second.dtype(), tensors[i].second.dtype()) << tensors[i].first;
    EXPECT_EQ(f.tensors[i].second.shape(), tensors[i].second.shape()) << tensors[i].first;
    EXPECT_EQ(bytes_of(f.tensors[i].second), bytes_of(tensors[i].second)) << tensors[i].first;
  }
  EXPECT_EQ(f.at("logits_eval").shape(), (Shape{2, 10}));
  // BatchNorm really matters: train mode (batch statistics) differs from eval mode.
  if (name != "cnn_small") {
    EXPECT_FALSE(testing::all_close(logits_train, logits_eval, testing::tolerance_for(DType::F32, 100.0)));
  }

  // A model of another seed, loaded strictly from the file's "model." entries, gives the file's
  // logits exactly.
  nn::NamedTensors loaded;
  for (const auto& [n, t] : f.tensors)
    if (n.compare(0, 6, "model.") == 0) loaded.emplace_back(n.substr(6), t);
  Generator other(seed + 1);
  const nn::ModelPtr fresh = nn::create_model(name, {}, other);
  fresh->load_state_dict(loaded, /*strict=*/true);
  autograd::NoGradGuard no_grad;
  fresh->eval();
  EXPECT_EQ(bytes_of((*fresh)(f.at("x"))), bytes_of(f.at("logits_eval")));
  fresh->train();
  EXPECT_EQ(bytes_of((*fresh)(f.at("x"))), bytes_of(f.at("logits_train")));
}

TEST(NnExport, ResNet20WritesWeightsAndLogitsForPyTorch) {
  const ExportDir dir;
  export_model("resnet20", 31, dir.path);
}

TEST(NnExport, CnnSmallWritesWeightsAndLogitsForPyTorch) {
  const ExportDir dir;
  export_model("cnn_small", 32, dir.path);
}

}  // namespace
}  // namespace kdcu
