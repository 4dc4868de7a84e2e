#include "nn/checkpoint.h"

#include "core/safetensors.h"

namespace kdcu {
namespace nn {
namespace {

constexpr const char* kFormatKey = "kdcu.format";
constexpr const char* kCheckpointFormat = "training-checkpoint-v1";
const std::string kModel = "model.", kOptimizer = "optimizer.", kExtra = "extra.";

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

std::int64_t parse_int(const std::map<std::string, std::string>& meta, const std::string& key,
                       const std::string& path) {
  auto it = meta.find(key);
  require<IoError>(it != meta.end(), path, ": checkpoint metadata lacks '", key, "'");
  try {
    size_t used = 0;
    const long long v = std::stoll(it->second, &used);
    require<IoError>(used == it->second.size(), "");
    return v;
  } catch (const std::exception&) {
    throw IoError(cat(path, ": checkpoint metadata '", key, "' = '", it->second, "' is not an integer"));
  }
}

NamedTensors with_prefix(const NamedTensors& ts, const std::string& prefix) {
  NamedTensors out;
  for (const auto& [n, t] : ts) out.emplace_back(prefix + n, t);
  return out;
}

NamedTensors strip_prefix(const NamedTensors& ts, const std::string& prefix) {
  NamedTensors out;
  for (const auto& [n, t] : ts)
    if (starts_with(n, prefix)) out.emplace_back(n.substr(prefix.size()), t);
  return out;
}

bool is_checkpoint(const SafetensorsFile& f) {
  auto it = f.metadata.find(kFormatKey);
  return it != f.metadata.end() && it->second == kCheckpointFormat;
}

}  // namespace

void save_weights(const std::string& path, const Module& model, const std::map<std::string, std::string>& metadata) {
  save_safetensors(path, model.state_dict(), metadata);
}

std::map<std::string, std::string> load_weights(const std::string& path, Module& model) {
  const SafetensorsFile f = load_safetensors(path);
  const NamedTensors state = is_checkpoint(f) ? strip_prefix(f.tensors, kModel) : f.tensors;
  try {
    model.load_state_dict(state);
  } catch (const ValueError& e) {
    throw ValueError(cat(path, ": ", e.what()));
  }
  return f.metadata;
}

void save_checkpoint(const std::string& path, const Module& model, const Optimizer* optimizer,
                     const TrainingState& state) {
  NamedTensors tensors = with_prefix(model.state_dict(), kModel);
  std::map<std::string, std::string> meta{{kFormatKey, kCheckpointFormat},
                                          {"epoch", std::to_string(state.epoch)},
                                          {"step", std::to_string(state.step)},
                                          {"rng.seed", std::to_string(state.rng.seed())},
                                          {"rng.offset", std::to_string(state.rng.offset())}};
  if (optimizer) {
    const OptimizerState os = optimizer->state_dict();
    for (auto& nt : with_prefix(os.tensors, kOptimizer)) tensors.push_back(std::move(nt));
    for (const auto& [k, v] : os.metadata) meta[kOptimizer + k] = v;
  }
  for (const auto& [k, v] : state.extra) meta[kExtra + k] = v;
  for (auto& nt : with_prefix(state.extra_tensors, kExtra)) tensors.push_back(std::move(nt));
  save_safetensors(path, tensors, meta);
}

TrainingState load_checkpoint(const std::string& path, Module& model, Optimizer* optimizer) {
  const SafetensorsFile f = load_safetensors(path);
  require<IoError>(is_checkpoint(f), path, ": not a kdcu training checkpoint (metadata '", kFormatKey, "' is not '",
                   kCheckpointFormat, "'); a weights-only file loads with load_weights");
  TrainingState state;
  state.epoch = parse_int(f.metadata, "epoch", path);
  state.step = parse_int(f.metadata, "step", path);
  state.rng.set_state(static_cast<std::uint64_t>(parse_int(f.metadata, "rng.seed", path)),
                      static_cast<std::uint64_t>(parse_int(f.metadata, "rng.offset", path)));
  state.extra_tensors = strip_prefix(f.tensors, kExtra);
  OptimizerState os{strip_prefix(f.tensors, kOptimizer), {}};
  for (const auto& [k, v] : f.metadata) {
    if (starts_with(k, kOptimizer)) os.metadata[k.substr(kOptimizer.size())] = v;
    if (starts_with(k, kExtra)) state.extra[k.substr(kExtra.size())] = v;
  }
  const bool has_optimizer = !os.metadata.empty();
  require<ValueError>(has_optimizer == (optimizer != nullptr), path, ": the checkpoint ",
                      has_optimizer ? "holds optimizer state but no optimizer was given to restore it"
                                    : "holds no optimizer state but an optimizer was given");
  // Check the model part without changing anything, then the optimizer (which changes nothing on
  // failure), then copy the weights.
  const NamedTensors weights = strip_prefix(f.tensors, kModel);
  const Module::LoadReport report = model.compare_state_dict(weights);
  require<ValueError>(report.ok(), path, ": the checkpoint's model does not match", report.str());
  if (optimizer) {
    try {
      optimizer->load_state_dict(os);
    } catch (const ValueError& e) {
      throw ValueError(cat(path, ": ", e.what()));
    }
  }
  model.load_state_dict(weights);
  return state;
}

}  // namespace nn
}  // namespace kdcu
