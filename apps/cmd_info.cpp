// `kdcu info`: what this build of kdcu contains and what it finds on this machine.
#include <omp.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "core/config.h"
#include "core/cuda_runtime.h"
#include "core/error.h"

namespace kdcu {
namespace app {

int apply_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
  return omp_get_max_threads();
}

Runner add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Show the build configuration and the devices kdcu can use");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "Print the result as one JSON object on stdout");
  return [json] {
    const cuda::Availability& a = cuda::availability();
    nlohmann::json out = {{"version", kVersion},
                          {"cuda_built", kWithCuda},
                          {"cuda_emulated", kCudaEmulated},
                          {"cuda_available", a.available},
                          {"cuda_devices", a.device_count},
                          {"cuda_device_names", a.names},
                          {"cuda_reason", a.reason},
                          {"cpu_threads", omp_get_max_threads()}};
    std::string devices = a.available ? std::to_string(a.device_count) : "none (CUDA unavailable: " + a.reason + ")";
    for (size_t d = 0; d < a.names.size(); ++d) devices += cat(d == 0 ? ": " : ", ", "cuda:", d, " ", a.names[d]);
    std::cerr << "kdcu " << kVersion << "\n"
              << "  CUDA backend built: "
              << (kCudaEmulated ? "yes, on kdcu's SIMT emulator (a test build: emu/README.md)" : kWithCuda ? "yes" : "no")
              << "\n"
              << "  CUDA devices:       " << devices << "\n"
              << "  CPU threads:        " << omp_get_max_threads() << "\n";
    if (*json) std::cout << out.dump() << "\n";
    return 0;
  };
}

}  // namespace app
}  // namespace kdcu
