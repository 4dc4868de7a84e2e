#include "nn/module.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "core/autograd.h"
#include "nn/summary_hook.h"

namespace kdcu {
namespace nn {

Tensor Module::operator()(const Tensor& x) {
  Tensor y = forward(x);
  if (SummaryRecorder* r = SummaryRecorder::active()) r->record(this, x.shape(), y.shape());
  return y;
}

double Module::flops(const Shape&, const Shape&) const {
  return 0.0;
}

Tensor& Module::register_parameter(const std::string& name, Tensor t) {
  require<ValueError>(name.find('.') == std::string::npos && !name.empty(), type_name_, ": parameter name '", name,
                      "' must be non-empty and have no dot");
  check_defined(t, "register_parameter", name.c_str());
  if (!t.requires_grad()) t.requires_grad_();
  params_.emplace_back(name, std::move(t));
  return params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t) {
  require<ValueError>(name.find('.') == std::string::npos && !name.empty(), type_name_, ": buffer name '", name,
                      "' must be non-empty and have no dot");
  check_defined(t, "register_buffer", name.c_str());
  buffers_.emplace_back(name, std::move(t));
  return buffers_.back().second;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  require<ValueError>(module != nullptr, type_name_, ": child module '", name, "' is null");
  require<ValueError>(name.find('.') == std::string::npos && !name.empty(), type_name_, ": child name '", name,
                      "' must be non-empty and have no dot");
  for (const auto& c : children_) require<ValueError>(c.first != name, type_name_, ": two children named '", name, "'");
  children_.emplace_back(name, std::move(module));
}

void Module::collect(const std::string& prefix, bool params, bool buffers, NamedTensors& out) const {
  if (params)
    for (const auto& [n, t] : params_) out.emplace_back(prefix + n, t);
  if (buffers)
    for (const auto& [n, t] : buffers_) out.emplace_back(prefix + n, t);
  for (const auto& [n, child] : children_) child->collect(prefix + n + ".", params, buffers, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, false, out);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, true, out);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect("", true, true, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_children() const {
  std::vector<std::pair<std::string, Module*>> out;
  for (const auto& [n, c] : children_) out.emplace_back(n, c.get());
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, Module*>> out{{"", const_cast<Module*>(this)}};
  for (const auto& [n, c] : children_)
    for (const auto& [sub, m] : c->named_modules()) out.emplace_back(sub.empty() ? n : n + "." + sub, m);
  return out;
}

std::int64_t Module::num_parameters() const {
  std::int64_t n = 0;
  for (const auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

std::string Module::LoadReport::str() const {
  std::ostringstream os;
  const auto list = [&](const char* what, const std::vector<std::string>& names) {
    if (names.empty()) return;
    os << "\n  " << what << " (" << names.size() << "):";
    for (size_t i = 0; i < names.size() && i < 20; ++i) os << " " << names[i] << (i + 1 < names.size() ? "," : "");
    if (names.size() > 20) os << " ...";
  };
  list("missing from the file", missing);
  list("unexpected in the file", unexpected);
  list("wrong shape", mismatched);
  return os.str();
}

Module::LoadReport Module::compare_state_dict(const NamedTensors& state) const {
  std::map<std::string, Shape> given;
  for (const auto& [n, t] : state) given[n] = t.shape();
  LoadReport report;
  for (const auto& [name, mine] : state_dict()) {
    auto it = given.find(name);
    if (it == given.end()) {
      report.missing.push_back(name);
      continue;
    }
    if (it->second != mine.shape())
      report.mismatched.push_back(cat(name, ": expected ", shape_str(mine.shape()), ", found ", shape_str(it->second)));
    given.erase(it);
  }
  for (const auto& [n, shape] : given) report.unexpected.push_back(n);
  return report;
}

Module::LoadReport Module::load_state_dict(const NamedTensors& state, bool strict) {
  const LoadReport report = compare_state_dict(state);
  if (strict && !report.ok())
    throw ValueError(cat("load_state_dict into ", type_name_, ": the state does not match", report.str()));
  std::map<std::string, const Tensor*> given;
  for (const auto& [n, t] : state) given[n] = &t;
  autograd::NoGradGuard no_grad;
  for (const auto& [name, dst] : state_dict()) {
    auto it = given.find(name);
    if (it == given.end() || it->second->shape() != dst.shape()) continue;
    Tensor value = it->second->detach();
    if (value.dtype() != dst.dtype()) value = value.to(dst.dtype());
    copy_into(dst, value);  // copy_into handles a host/device difference
  }
  return report;
}

void Module::train(bool on) {
  training_ = on;
  on_train(on);
  for (auto& [n, c] : children_) c->train(on);
}

void Module::to(const Device& device) {
  for (auto& [n, t] : params_) t.move_to_(device);
  for (auto& [n, t] : buffers_) t.move_to_(device);
  for (auto& [n, c] : children_) c->to(device);
}

Device Module::device() const {
  const NamedTensors all = state_dict();
  return all.empty() ? Device::cpu() : all.front().second.device();
}

void Module::zero_grad() {
  for (auto& [n, t] : named_parameters()) Tensor(t).zero_grad();
}

}  // namespace nn
}  // namespace kdcu
