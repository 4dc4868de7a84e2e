// Soft-label cache: key, read-if-fresh, build-and-write otherwise, and the per-batch row lookup.
#include "distill/soft_label_cache.h"

#include <chrono>
#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "core/factories.h"
#include "core/hash.h"
#include "core/safetensors.h"
#include "distill/evaluate.h"

namespace kdcu {
namespace distill {
namespace {

constexpr const char* kFormat = "kdcu-soft-labels-1";

std::string hex(std::uint64_t v) {
  std::ostringstream os;
  os << std::hex << v;
  return os.str();
}

std::string exact(double x) {
  std::ostringstream os;
  os.precision(17);
  os << x;
  return os.str();
}

}  // namespace

std::string SoftLabelKey::str() const {
  return cat("teacher=", teacher, " weights=", hex(weights_hash), " data=", hex(data_hash), " norm=", normalization,
             " samples=", samples, " classes=", classes);
}

SoftLabelKey soft_label_key(const nn::Model& teacher, const datasets::Dataset& data,
                            const datasets::Normalization& norm) {
  SoftLabelKey k;
  k.teacher = cat(teacher.name().empty() ? teacher.type_name() : teacher.name(), "(", teacher.config().str(), ")");
  Fnv1a w;
  for (const auto& [name, t] : teacher.state_dict()) {
    const Tensor host = t.to(Device::cpu());
    w.update(name).update(shape_str(host.shape())).update(dtype_name(host.dtype()));
    w.update(host.raw_data(), host.nbytes());
  }
  k.weights_hash = w.digest();
  Fnv1a d;
  d.update(data.images.data(), data.images.size());
  d.update(data.labels.data(), data.labels.size() * sizeof(std::int64_t));
  k.data_hash = d.digest();
  std::string n = "mean";
  for (double m : norm.mean) n += "," + exact(m);
  n += ";std";
  for (double s : norm.std) n += "," + exact(s);
  k.normalization = n;
  k.samples = data.size();
  k.classes = teacher.config().num_classes;
  return k;
}

SoftLabels load_or_build_soft_labels(const std::string& path, nn::Model& teacher, const datasets::Dataset& data,
                                     const datasets::Normalization& norm, const Device& device,
                                     std::int64_t batch_size) {
  const auto t0 = std::chrono::steady_clock::now();
  const SoftLabelKey key = soft_label_key(teacher, data, norm);
  SoftLabels out;
  out.path = path;
  if (!std::filesystem::exists(path)) {
    out.why = "no cache file";
  } else {
    try {
      SafetensorsFile f = load_safetensors(path);
      const auto fmt = f.metadata.find("format");
      const auto stored = f.metadata.find("key");
      if (fmt == f.metadata.end() || fmt->second != kFormat || stored == f.metadata.end()) {
        out.why = "not a kdcu soft-label file";
      } else if (stored->second != key.str()) {
        out.why = cat("stale: the file was made for {", stored->second, "}, now {", key.str(), "}");
      } else if (!f.contains("logits") || f.at("logits").shape() != Shape{key.samples, key.classes} ||
                 f.at("logits").dtype() != DType::F32) {
        out.why = "the logits tensor is missing or has the wrong shape";
      } else {
        out.logits = f.at("logits");
      }
    } catch (const IoError& e) {
      out.why = cat("unreadable: ", e.what());
    }
  }
  if (!out.logits.defined()) {
    out.built = true;
    out.logits = predict_logits(teacher, data, norm, device, batch_size);
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!dir.empty()) std::filesystem::create_directories(dir, ec);
    require<IoError>(!ec, "soft-label cache: cannot create the directory ", dir.string(), ": ", ec.message());
    save_safetensors(path, {{"logits", out.logits}}, {{"format", kFormat}, {"key", key.str()}});
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

Tensor gather_rows(const Tensor& table, const Tensor& indices) {
  check_defined(table, "gather_rows", "table");
  check_defined(indices, "gather_rows", "indices");
  require<ShapeError>(table.dim() == 2 && indices.dim() == 1,
                      "gather_rows: expected table [N, C] and indices [B]; "
                      "found ",
                      shape_str(table.shape()), " and ", shape_str(indices.shape()));
  require<DTypeError>(table.dtype() == DType::F32 && indices.dtype() == DType::I64,
                      "gather_rows: expected an f32 table and i64 indices; found ", dtype_name(table.dtype()), " and ",
                      dtype_name(indices.dtype()));
  require<DeviceError>(table.device().is_cpu() && indices.device().is_cpu(),
                       "gather_rows: table and indices must be on the CPU");
  const std::int64_t n = table.size(0), c = table.size(1), b = indices.size(0);
  Tensor out = empty({b, c}, DType::F32);
  const float* src = table.data<float>();
  const std::int64_t* idx = indices.data<std::int64_t>();
  float* dst = out.data<float>();
  for (std::int64_t i = 0; i < b; ++i) {
    require<ValueError>(idx[i] >= 0 && idx[i] < n, "gather_rows: index ", idx[i], " at position ", i,
                        " is outside [0, ", n, ")");
    std::copy(src + idx[i] * c, src + (idx[i] + 1) * c, dst + i * c);
  }
  return out;
}

}  // namespace distill
}  // namespace kdcu
