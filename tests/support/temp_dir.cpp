#include "tests/support/temp_dir.h"

#include <stdlib.h>

#include <stdexcept>
#include <system_error>

namespace kdcu {
namespace testing {

namespace fs = std::filesystem;

TempDir::TempDir(const std::string& tag) {
  std::string tmpl = (fs::temp_directory_path() / ("kdcu_" + tag + "_XXXXXX")).string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed for " + tmpl);
  path = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(path, ec);
}

std::string TempDir::file(const std::string& name) const {
  return (path / name).string();
}

std::string TempDir::dir(const std::string& name) const {
  fs::create_directories(path / name);
  return (path / name).string();
}

}  // namespace testing
}  // namespace kdcu
