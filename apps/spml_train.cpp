// spml-train: trains a ResNet with an SPML loss on a pre-formatted data set (docs/method.md section 7) into a run
// folder; Ctrl-C writes a resumable checkpoint, --resume continues it (also after a crash: docs/reliability.md).
// The protocol lives in training/trainer.h.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "apps/support/train_flags.h"
#include "framework/core/fault_injection.h"
#include "framework/core/runtime.h"
#include "training/trainer.h"

int main(int argc, char** argv) {
  spml::init_process_threads(argv);
  CLI::App app{"spml-train: SPML training (GR and the baselines) with per-epoch val mAP and a final test mAP"};
  spml::apps::TrainFlags flags;
  spml::apps::add_train_flags(app, flags, "run folder RUNDIR", /*out_required=*/true);
  bool resume = false;
  app.add_flag("--resume", resume,
               "continue RUNDIR from last.ckpt with RUNDIR/config.json (only --epochs may grow; --threads, "
               "--workers, --device, --cpu-kernels, --on-bad-image, --on-nonfinite may change)");
  app.footer(spml::apps::train_defaults_footer());
  CLI11_PARSE(app, argc, argv);
  // A file over RLIMIT_FSIZE then fails its write() with EFBIG, which io::write_file_atomic reports naming the
  // file, instead of the signal killing the process mid-write.
  std::signal(SIGXFSZ, SIG_IGN);

  try {
    using namespace spml;
    fault::enabled();  // a malformed SPML_FAULT fails here, before any work
    const std::vector<std::string> given = flags.given();
    training::TrainConfig config = flags.resolve();
    if (resume) config = training::resume_config(config.out, config, given);

    config.device = setup_threads_and_device(config.threads, config.device).str();
    set_cpu_kernels(config.cpu_kernels, "--cpu-kernels");

    std::string command;
    for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
    training::TrainCallbacks callbacks;
    callbacks.stop_requested = spml::apps::sigint_stop_requested;
    callbacks.command_line = command;
    spml::apps::install_sigint_stop();
    const training::TrainOutcome outcome = training::run_training(config, resume, callbacks);
    if (outcome.interrupted) return 130;  // the shell's code for SIGINT: the run is resumable, not finished
    std::printf("%s\n", nlohmann::json({{"run", config.out},
                                        {"loss", config.loss},
                                        {"test_mAP", outcome.test_map},
                                        {"best_val_mAP", outcome.best_val_map},
                                        {"best_epoch", outcome.best_epoch},
                                        {"epochs_run", outcome.epochs_run},
                                        {"stopped_early", outcome.stopped_early}})
                            .dump()
                            .c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spml-train: error: %s\n", e.what());
    return 1;
  }
}
