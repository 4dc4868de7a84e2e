// What every run writes beside its outputs: config.toml (the fully resolved options, re-usable
// with --config) and run.json (command, commit, device, seed, date, host).
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "core/device.h"

namespace kdcu {
namespace app {

// "cpu (2 threads)" or "cuda:0 (NVIDIA H100 ...)"-style text for reports.
std::string device_description(const Device& d);

// UTC now as "2026-12-02T07:28:56Z".
std::string utc_now();

// Writes <dir>/config.toml from the subcommand's parsed options (defaults included) and
// <dir>/run.json with `extra` merged in. IoError when the directory cannot be made or written.
void write_run_info(const std::string& dir, const CLI::App& cmd, const Device& device, std::uint64_t seed,
                    const nlohmann::json& extra = nlohmann::json::object());

}  // namespace app
}  // namespace kdcu
