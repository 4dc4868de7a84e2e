// `--config FILE` for every subcommand (CLI11 2.1 reads config files only for the top-level app):
// the file's `name = value` lines become `--name value` arguments, inserted before the user's own
// arguments, for the options the command line does not set itself. The form is the TOML subset
// that kdcu writes into every run's config.toml: strings in double quotes, numbers, true/false,
// arrays ["a", "b"] for repeatable options; '#' comments and [section] lines are ignored.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace kdcu {
namespace app {

// argv with any `--config FILE` (or `--config=FILE`) after the subcommand expanded. ValueError /
// IoError naming the file and line for an unreadable file, a malformed line, or a name that is not
// an option of that subcommand.
std::vector<std::string> expand_config(const CLI::App& app, int argc, char** argv);

}  // namespace app
}  // namespace kdcu
