// Optimizer base: the parameter list, the step loop (no-grad, skipping parameters without a
// gradient), zero_grad, and state_dict / load_state_dict with exact decimal hyper-parameters.
// The update rules live in optim_sgd.cpp and optim_adam.cpp.
#include "nn/optim.h"

#include <cmath>
#include <locale>
#include <set>
#include <sstream>
#include <unordered_set>

#include "core/autograd.h"
#include "core/error.h"

namespace kdcu {
namespace nn {
namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

const std::string& metadata_at(const std::map<std::string, std::string>& md, const std::string& key,
                               const std::string& who) {
  const auto it = md.find(key);
  require<ValueError>(it != md.end(), who, " load_state_dict: the state's metadata lacks '", key, "'");
  return it->second;
}

// Reads the whole of `text` as a T in the classic locale; false if anything is left over.
template <class T>
bool parse_exact(const std::string& text, T& out) {
  std::istringstream in(text);
  in.imbue(std::locale::classic());
  in >> out;
  return !in.fail() && in.peek() == std::char_traits<char>::eof();
}

}  // namespace

Optimizer::Optimizer(std::string type_name, NamedTensors params, double lr)
    : type_name_(std::move(type_name)), params_(std::move(params)), lr_(0.0) {
  require<ValueError>(!params_.empty(), type_name_, ": got an empty parameter list");
  std::set<std::string> names;
  std::unordered_set<const TensorImpl*> tensors;
  for (const auto& [name, p] : params_) {
    require<ValueError>(p.defined(), type_name_, ": parameter '", name, "' is an undefined tensor");
    require<DTypeError>(is_floating(p.dtype()), type_name_, ": parameter '", name, "' is ", dtype_name(p.dtype()),
                        "; only floating tensors can be optimized");
    require<ValueError>(names.insert(name).second, type_name_, ": two parameters are named '", name, "'");
    require<ValueError>(tensors.insert(p.impl()).second, type_name_, ": parameter '", name,
                        "' is a tensor already in the list");
  }
  state_.resize(params_.size());
  set_lr(lr);
}

void Optimizer::set_lr(double lr) {
  check_arg(std::isfinite(lr) && lr >= 0.0, "learning rate", lr, ">= 0");
  lr_ = lr;
}

void Optimizer::check_arg(bool ok, const char* what, double value, const char* expected) const {
  require<ValueError>(ok, type_name_, ": invalid ", what, " ", format_double(value), " (expected ", expected, ")");
}

void Optimizer::step() {
  autograd::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& [name, p] = params_[i];
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    check_same_shape(p, g, "optimizer step");
    check_same_dtype(p, g, "optimizer step");
    check_same_device(p, g, "optimizer step");
    // A first update keeps its fresh state only once it has succeeded.
    const bool first = state_[i].empty();
    std::vector<Tensor> fresh = first ? init_state(p) : std::vector<Tensor>();
    update(p, g, first ? fresh : state_[i], first);
    if (first) state_[i] = std::move(fresh);
  }
  ++steps_;
}

void Optimizer::zero_grad() {
  for (auto& [name, p] : params_) Tensor(p).zero_grad();
}

OptimizerState Optimizer::state_dict() const {
  autograd::NoGradGuard no_grad;
  OptimizerState out;
  const std::vector<std::string> keys = state_keys();
  for (size_t i = 0; i < params_.size(); ++i) {
    for (size_t k = 0; k < state_[i].size(); ++k) {
      out.tensors.emplace_back(params_[i].first + "." + keys[k], state_[i][k].clone());
    }
  }
  out.metadata = hyper();
  out.metadata["optimizer"] = type_name_;
  out.metadata["steps"] = std::to_string(steps_);
  out.metadata["lr"] = format_double(lr_);
  return out;
}

void Optimizer::load_state_dict(const OptimizerState& state) {
  autograd::NoGradGuard no_grad;
  const std::string who = type_name_;
  const auto& md = state.metadata;
  const std::string& kind = metadata_at(md, "optimizer", who);
  require<ValueError>(kind == type_name_, who, " load_state_dict: the state is of a '", kind, "' optimizer");
  std::int64_t steps = 0;
  const std::string& steps_text = metadata_at(md, "steps", who);
  require<ValueError>(parse_exact(steps_text, steps) && steps >= 0, who, " load_state_dict: metadata 'steps' is '",
                      steps_text, "', expected an integer >= 0");
  const double lr = parse_double(md, "lr");
  check_arg(std::isfinite(lr) && lr >= 0.0, "learning rate", lr, ">= 0");

  const Hyper old_hyper = hyper();
  Hyper new_hyper;
  for (const auto& [key, value] : old_hyper) new_hyper[key] = metadata_at(md, key, who);
  set_hyper(new_hyper);  // validates; the state keys may depend on it (SGD's momentum)

  std::vector<std::vector<Tensor>> new_state(params_.size());
  try {
    std::map<std::string, const Tensor*> given;
    for (const auto& [name, t] : state.tensors) {
      require<ValueError>(given.emplace(name, &t).second, who, " load_state_dict: two state tensors are named '", name,
                          "'");
    }
    const std::vector<std::string> keys = state_keys();
    std::vector<std::string> missing, mismatched;
    std::set<std::string> used;
    for (size_t i = 0; i < params_.size(); ++i) {
      const auto& [name, p] = params_[i];
      size_t present = 0;
      for (const std::string& key : keys) present += given.count(name + "." + key);
      if (present == 0) continue;  // never updated: no state, as in PyTorch
      new_state[i] = init_state(p);
      for (size_t k = 0; k < keys.size(); ++k) {
        const std::string full = name + "." + keys[k];
        const auto it = given.find(full);
        if (it == given.end()) {
          missing.push_back(full);
          continue;
        }
        used.insert(full);
        const Tensor& src = *it->second;
        const Tensor& dst = new_state[i][k];
        if (!src.defined() || src.shape() != dst.shape()) {
          mismatched.push_back(cat(full, ": expected ", shape_str(dst.shape()), ", found ",
                                   src.defined() ? shape_str(src.shape()) : std::string("an undefined tensor")));
        }
      }
    }
    std::vector<std::string> unexpected;
    for (const auto& [name, t] : given) {
      if (!used.count(name)) unexpected.push_back(name);
    }
    if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
      std::string msg = who + " load_state_dict: the state does not match its parameters";
      if (!missing.empty()) msg += cat("; missing (", missing.size(), "): ", join(missing));
      if (!unexpected.empty()) msg += cat("; unexpected (", unexpected.size(), "): ", join(unexpected));
      if (!mismatched.empty()) msg += cat("; wrong shape (", mismatched.size(), "): ", join(mismatched));
      throw ValueError(msg);
    }
    for (size_t i = 0; i < params_.size(); ++i) {
      for (size_t k = 0; k < new_state[i].size(); ++k) {
        const Tensor& src = *given.at(params_[i].first + "." + keys[k]);
        const Tensor& dst = new_state[i][k];
        copy_into(dst, src.dtype() == dst.dtype() ? src : src.to(dst.dtype()));
      }
    }
  } catch (...) {
    set_hyper(old_hyper);
    throw;
  }
  state_ = std::move(new_state);
  lr_ = lr;
  steps_ = steps;
}

std::string Optimizer::format_double(double x) {
  // The shortest of 15..17 significant digits that reads back as the same double.
  std::string text;
  for (int digits = 15; digits <= 17; ++digits) {
    std::ostringstream out;
    out.imbue(std::locale::classic());
    out.precision(digits);
    out << x;
    text = out.str();
    double back = 0.0;
    if (parse_exact(text, back) && back == x) break;
  }
  return text;
}

double Optimizer::parse_double(const Hyper& values, const std::string& key) {
  const auto it = values.find(key);
  require<ValueError>(it != values.end(), "optimizer state: metadata lacks '", key, "'");
  double x = 0.0;
  require<ValueError>(parse_exact(it->second, x), "optimizer state: metadata '", key, "' is '", it->second,
                      "', expected a number");
  return x;
}

bool Optimizer::parse_bool(const Hyper& values, const std::string& key) {
  const auto it = values.find(key);
  require<ValueError>(it != values.end(), "optimizer state: metadata lacks '", key, "'");
  require<ValueError>(it->second == "true" || it->second == "false", "optimizer state: metadata '", key, "' is '",
                      it->second, "', expected true or false");
  return it->second == "true";
}

}  // namespace nn
}  // namespace kdcu
