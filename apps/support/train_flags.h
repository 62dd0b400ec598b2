// spml-train's flags, shared with spml-sweep: one CLI11 option per TrainConfig field (the flag --batch-size binds
// the field batch_size, whose JSON key is the same name with underscores), and the layering of the flags given over
// the data set's defaults and a --config file (training::resolve_train_config).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "training/train_config.h"

namespace spml::apps {

struct TrainFlags {
  training::TrainConfig values;  // what the flags set (only the given ones count)
  std::string config_file;       // --config
  struct Bound {
    CLI::Option* option;
    std::string key;  // the TrainConfig JSON key
  };
  std::vector<Bound> bound;

  // The JSON keys of the flags given on the command line.
  std::vector<std::string> given() const;
  // The configuration they ask for (resolve_train_config over the data set's and the loss's defaults).
  training::TrainConfig resolve() const;
};

// Adds every training flag and --config to `app`. `out_help` describes --out (a run folder for spml-train, the
// sweep folder for spml-sweep); out_required makes it required.
void add_train_flags(CLI::App& app, TrainFlags& flags, const std::string& out_help, bool out_required);

// Ctrl-C for the training apps: the first SIGINT sets a flag that stop_requested() reads (the run finishes its step
// and writes a resumable checkpoint); a second one ends the process at once.
void install_sigint_stop();
bool sigint_stop_requested();

// The footer listing the defaults per data set (and the per-loss settings), for --help.
std::string train_defaults_footer();

}  // namespace spml::apps
