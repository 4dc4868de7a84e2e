// Runs the `kdcu` binary the build made (KDCU_CLI_PATH) as a user would, capturing its exit
// status, stdout (the --json result) and stderr (the human output) separately.
#pragma once

#include <string>

namespace kdcu {
namespace testing {

struct CliRun {
  int status = -1;  // the exit status; -1 when it did not exit normally
  std::string out, err;
};

// `args` is appended to the binary's path as shell words (quote them yourself where needed).
CliRun run_kdcu(const std::string& args);

// A fresh, empty directory under the system temp directory.
std::string fresh_dir(const std::string& name);

std::string read_text(const std::string& path);

}  // namespace testing
}  // namespace kdcu
