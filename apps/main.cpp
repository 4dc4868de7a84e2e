// `kdcu`: the command line. Errors from the library reach here as exceptions and are printed as
// "error: ..." with a non-zero exit status; nothing below main prints and carries on.
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "apps/config_file.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"kdcu: knowledge distillation in C++/CUDA"};
  app.require_subcommand(1);
  std::map<std::string, kdcu::app::Runner> runners;
  runners["info"] = kdcu::app::add_info_command(app);
  runners["train"] = kdcu::app::add_train_command(app);
  runners["distill"] = kdcu::app::add_distill_command(app);
  runners["eval"] = kdcu::app::add_eval_command(app);
  runners["pipeline"] = kdcu::app::add_pipeline_command(app);
  runners["summary"] = kdcu::app::add_summary_command(app);
  std::vector<std::string> args;
  try {
    args = kdcu::app::expand_config(app, argc, argv);  // --config FILE -> the file's options
  } catch (const kdcu::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  std::vector<char*> cargs;
  for (std::string& a : args) cargs.push_back(a.data());
  try {
    app.parse(static_cast<int>(cargs.size()), cargs.data());
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (const auto* sub : app.get_subcommands()) return runners.at(sub->get_name())();
  } catch (const kdcu::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: unexpected failure: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
