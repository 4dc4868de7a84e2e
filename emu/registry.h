// The live objects of one kind that the emulator hands out as opaque handles (cuBLAS and cuDNN
// handles, streams, events): a handle the registry does not hold is rejected, never read. The
// registry is never destroyed (objects may be released from static destructors at exit), so
// what is still live at exit stays reachable and no leak is reported.
#pragma once

#include <cstddef>
#include <mutex>
#include <set>

namespace kdcu {
namespace emu {

template <class T>
class Registry {
 public:
  static Registry& instance() {
    static Registry* r = new Registry;
    return *r;
  }
  T* add(T* p) {
    std::lock_guard<std::mutex> lock(mutex_);
    live_.insert(p);
    return p;
  }
  // Deletes p; false (and nothing deleted) when p is not live.
  bool remove(T* p) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!p || live_.erase(p) == 0) return false;
    }
    delete p;
    return true;
  }
  bool contains(const T* p) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return p && live_.count(p) != 0;
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return live_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::set<const T*> live_;
};

}  // namespace emu
}  // namespace kdcu
