// A fresh directory under the system's temporary directory for one test, removed with everything
// in it when the object goes (permissions restored first, so a test that made it read-only still
// cleans up).
#pragma once

#include <filesystem>
#include <string>

namespace kdcu {
namespace testing {

class TempDir {
 public:
  // Named "kdcu_<tag>_XXXXXX"; throws std::runtime_error if it cannot be made.
  explicit TempDir(const std::string& tag = "test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::filesystem::path path;
  std::string file(const std::string& name) const;  // path / name (nothing is created)
  std::string dir(const std::string& name) const;   // path / name, created with its parents
};

}  // namespace testing
}  // namespace kdcu
