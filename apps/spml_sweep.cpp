// spml-sweep: a hyper-parameter grid over spml-train runs (docs/sweep.md). Each --grid KEY=V1,V2,... is an axis;
// every other flag is spml-train's and holds for every cell. The cells train one after another into
// SWEEPDIR/<cell name> (finished ones reused, started ones resumed, failures recorded); the finished cell with the
// best val mAP is chosen and its test mAP reported. Ctrl-C stops after the current step (exit 130; run the same
// command again to continue). The logic lives in training/sweep.h.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>

#include "apps/support/train_flags.h"
#include "framework/core/fault_injection.h"
#include "framework/core/runtime.h"
#include "training/sweep.h"

int main(int argc, char** argv) {
  spml::init_process_threads(argv);
  CLI::App app{
      "spml-sweep: a grid of spml-train runs; the cell with the best val mAP is chosen and its test mAP reported"};
  spml::apps::TrainFlags flags;
  spml::apps::add_train_flags(app, flags, "the sweep folder SWEEPDIR", /*out_required=*/true);
  std::vector<std::string> grid_arguments;
  app.add_option("--grid", grid_arguments,
                 "KEY=V1,V2,...: an axis of the grid (repeatable); KEY is a config.json key (a flag's name with "
                 "underscores: lr, batch_size, loss, seed, ...); a vector key's values are separated by ';', their "
                 "components by spaces (beta=0 2 -2 -2;0 10 -2 -8)")
      ->required()
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.footer(spml::apps::train_defaults_footer());
  CLI11_PARSE(app, argc, argv);
  std::signal(SIGXFSZ, SIG_IGN);  // as spml-train: a file over RLIMIT_FSIZE fails its write with EFBIG instead

  try {
    using namespace spml;
    fault::enabled();
    training::SweepOptions options;
    for (const std::string& argument : grid_arguments) options.grid.push_back(training::parse_grid_argument(argument));
    training::expand_grid(options.grid);  // the grid's errors before any work
    options.flags = flags.values;
    options.given = flags.given();
    options.config_file = flags.config_file;
    // The base configuration: every flag and --config checked once; its threads, device and CPU kernels hold for
    // the whole process.
    const training::TrainConfig base = flags.resolve();
    options.out = base.out;
    options.device = setup_threads_and_device(base.threads, base.device).str();
    set_cpu_kernels(base.cpu_kernels, "--cpu-kernels");
    for (int i = 0; i < argc; ++i) options.command_line += (i ? " " : "") + std::string(argv[i]);
    options.callbacks.stop_requested = spml::apps::sigint_stop_requested;
    spml::apps::install_sigint_stop();

    const training::SweepResult result = training::run_sweep(options);
    std::printf("%s\n", training::sweep_summary_line(options, result).c_str());
    if (result.interrupted) return 130;  // resumable: the same command continues it
    return result.finished() > 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spml-sweep: error: %s\n", e.what());
    return 1;
  }
}
