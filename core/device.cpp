#include "core/device.h"

#include <cctype>

#include "core/error.h"

namespace kdcu {

Device Device::parse(const std::string& name) {
  if (name == "cpu") return cpu();
  if (name == "cuda") return cuda(0);
  if (name.rfind("cuda:", 0) == 0 && name.size() > 5) {
    int index = 0;
    for (size_t i = 5; i < name.size(); ++i) {
      require<DeviceError>(std::isdigit(static_cast<unsigned char>(name[i])) && index < 100000, "unknown device '",
                           name, "': expected cpu, cuda or cuda:N");
      index = index * 10 + (name[i] - '0');
    }
    return cuda(index);
  }
  throw DeviceError(cat("unknown device '", name, "': expected cpu, cuda or cuda:N"));
}

std::string Device::str() const {
  return is_cpu() ? "cpu" : "cuda:" + std::to_string(index);
}

std::ostream& operator<<(std::ostream& os, const Device& d) {
  return os << d.str();
}

}  // namespace kdcu
