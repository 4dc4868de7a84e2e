// The subcommands of the `kdcu` command line. Each registers its options on a CLI11 subcommand
// and returns the function that runs it; human output goes to stderr, `--json` results to stdout.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace kdcu {
namespace app {

using Runner = std::function<int()>;

Runner add_info_command(CLI::App& app);
Runner add_train_command(CLI::App& app);
Runner add_distill_command(CLI::App& app);
Runner add_eval_command(CLI::App& app);
Runner add_pipeline_command(CLI::App& app);
Runner add_summary_command(CLI::App& app);

// Applies --threads (0 = leave OpenMP's default) and returns the thread count in use.
int apply_threads(int threads);

}  // namespace app
}  // namespace kdcu
