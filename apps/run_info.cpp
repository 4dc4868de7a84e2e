// config.toml and run.json of a run directory.
#include "apps/run_info.h"

#include <omp.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>

#include "apps/build_info.h"
#include "core/config.h"
#include "core/error.h"
#include "datasets/file_io.h"

namespace kdcu {
namespace app {

std::string device_description(const Device& d) {
  if (d.is_cpu()) return cat("cpu (", omp_get_max_threads(), " threads)");
  return d.str();
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void write_run_info(const std::string& dir, const CLI::App& cmd, const Device& device, std::uint64_t seed,
                    const nlohmann::json& extra) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  require<IoError>(!ec, "cannot create the run directory ", dir, ": ", ec.message());
  const std::string toml = "# kdcu " + cmd.get_name() + ": the resolved options of this run (kdcu " + cmd.get_name() +
                           " --config " + datasets::join_path(dir, "config.toml") + " repeats it)\n" +
                           cmd.config_to_str(true, false);
  datasets::write_file_atomic(datasets::join_path(dir, "config.toml"), toml.data(), toml.size());
  char host[256] = "unknown";
  gethostname(host, sizeof host - 1);
  nlohmann::json j = {{"command", cmd.get_name()},
                      {"kdcu_version", kVersion},
                      {"commit", build_commit()},
                      {"date", utc_now()},
                      {"device", device.str()},
                      {"device_description", device_description(device)},
                      {"seed", seed},
                      {"host", host},
                      {"cpu_threads", omp_get_max_threads()}};
  for (const auto& [k, v] : extra.items()) j[k] = v;
  const std::string text = j.dump(2) + "\n";
  datasets::write_file_atomic(datasets::join_path(dir, "run.json"), text.data(), text.size());
}

}  // namespace app
}  // namespace kdcu
