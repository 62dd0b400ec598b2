// spml-train: trains a ResNet with an SPML loss on a pre-formatted data set (docs/method.md section 7) into a run
// folder; Ctrl-C writes a resumable checkpoint, --resume continues it (also after a crash: docs/reliability.md).
// The protocol lives in training/trainer.h.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "framework/core/fault_injection.h"
#include "framework/core/runtime.h"
#include "losses/spml_loss.h"
#include "training/trainer.h"

namespace {

volatile std::sig_atomic_t g_interrupt = 0;

void on_sigint(int) {
  g_interrupt = 1;
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process at once
}

// A flag bound to a field of the flags' config, and that field's key (training::resolve_train_config layers it).
struct BoundFlag {
  CLI::Option* option;
  std::string key;
};

}  // namespace

int main(int argc, char** argv) {
  spml::init_process_threads(argv);
  using spml::training::TrainConfig;
  CLI::App app{"spml-train: SPML training (GR and the baselines) with per-epoch val mAP and a final test mAP"};
  TrainConfig flags;
  std::vector<BoundFlag> bound;
  auto bind = [&](const std::string& name, auto TrainConfig::*member, const std::string& help) {
    CLI::Option* option = app.add_option(name, flags.*member, help);
    std::string key = name.substr(2);
    for (char& c : key)
      if (c == '-') c = '_';
    bound.push_back({option, key});
    return option;
  };
  bind("--dataset", &TrainConfig::dataset,
       "voc, coco, nuswide, cub, fashion-mosaic or toy-shapes: picks the defaults (default fashion-mosaic)");
  bind("--data", &TrainConfig::data,
       "pre-formatted folder (fashion-mosaic/toy-shapes: generated when absent; default data/<dataset> for them)");
  bind("--images", &TrainConfig::images, "image root (default: the folder's dataset.json)");
  bind("--arch", &TrainConfig::arch, "resnet18, resnet34, resnet50 or resnet101");
  bind("--width", &TrainConfig::width, "channels of the ResNet stem (64 = torchvision)");
  bind("--weights", &TrainConfig::weights, "backbone initialisation (.safetensors, torchvision keys); none: random");
  bind("--loss", &TrainConfig::loss, "loss: " + CLI::detail::join(spml::losses::loss_names()));
  bind("--epochs", &TrainConfig::epochs, "epochs T");
  bind("--batch-size", &TrainConfig::batch_size, "batch size");
  bind("--lr", &TrainConfig::lr, "backbone learning rate (Adam)");
  bind("--lr-mult", &TrainConfig::lr_mult, "the head's learning rate multiplier");
  bind("--linear-init", &TrainConfig::linear_init, "epochs with the backbone frozen");
  bind("--beta", &TrainConfig::beta, "GR: w0 wT b0 bT")->expected(4);
  bind("--alpha", &TrainConfig::alpha, "GR: mu0 sigma0 muT sigmaT (NOTE: not beta's order)")->expected(4);
  bind("--q2q3", &TrainConfig::q2q3, "GR: q2 q3")->expected(2);
  bind("--expected-pos", &TrainConfig::expected_pos, "EPR/ROLE: expected positives per image k");
  bind("--em-alpha", &TrainConfig::em_alpha, "EM: weight of the entropy term");
  bind("--image-size", &TrainConfig::image_size, "images are resized to S x S");
  bind("--device", &TrainConfig::device, "cpu, cuda or cuda:N");
  bind("--seed", &TrainConfig::seed, "model init, shuffling, flips, ROLE's estimates");
  bind("--init-seed", &TrainConfig::init_seed, "seed of the model's random init (-1: --seed)");
  bind("--order-seed", &TrainConfig::order_seed, "seed of the per-epoch sample order (-1: --seed)");
  bind("--flip-seed", &TrainConfig::flip_seed, "seed of the per-epoch horizontal flips (-1: --seed)");
  bind("--order-file", &TrainConfig::order_file,
       "JSON order file fixing every epoch's sample order and flips (format: framework/data/sample_schedule.h)");
  bind("--dtype", &TrainConfig::dtype, "float32, or float64 (exactness checks; slow)");
  bind("--out", &TrainConfig::out, "run folder RUNDIR")->required();
  bind("--threads", &TrainConfig::threads, "CPU threads (0: all cores)");
  bind("--workers", &TrainConfig::workers, "image decoding threads (0: the thread count)");
  bind("--cpu-kernels", &TrainConfig::cpu_kernels,
       "float32 CPU kernels: onednn or reference (default: " + spml::default_cpu_kernels_name() + ")");
  bind("--max-train", &TrainConfig::max_train, "keep the first N train rows (after the 80/20 split); 0: all");
  bind("--on-bad-image", &TrainConfig::on_bad_image,
       "a training image that cannot be read: fail (stop, naming it) or skip (drop it, counted in run.json); "
       "val/test images always fail");
  bind("--on-nonfinite", &TrainConfig::on_nonfinite,
       "a NaN/Inf loss or logits: stop (naming epoch, step, loss and batch) or skip (no update, counted)");
  auto* deterministic = app.add_flag("--deterministic", flags.deterministic,
                                     "deterministic cuDNN convolution algorithms (CPU runs are always deterministic)");
  auto* no_flip = app.add_flag("--no-flip", flags.no_flip, "train without the random horizontal flip");
  bound.push_back({no_flip, "no_flip"});
  bound.push_back({deterministic, "deterministic"});
  std::string config_file;
  bool resume = false;
  app.add_option("--config", config_file, "read the settings from a config.json (flags given too override it)");
  app.add_flag("--resume", resume,
               "continue RUNDIR from last.ckpt with RUNDIR/config.json (only --epochs may grow; --threads, "
               "--workers, --device, --cpu-kernels, --on-bad-image, --on-nonfinite may change)");
  std::string footer = "Defaults per --dataset (training/dataset_settings.h; flags override them):";
  for (const auto& d : spml::training::all_dataset_settings())
    footer += "\n  " + d.dataset + ": " + d.arch + ", " + std::to_string(d.epochs) + " epochs, batch " +
              std::to_string(d.batch_size) + ", lr " + CLI::detail::to_string(d.lr) + ", " +
              std::to_string(d.image_size) + " px, " + std::to_string(d.num_classes) + " classes";
  app.footer(footer);
  CLI11_PARSE(app, argc, argv);
  // A file over RLIMIT_FSIZE then fails its write() with EFBIG, which io::write_file_atomic reports naming the
  // file, instead of the signal killing the process mid-write.
  std::signal(SIGXFSZ, SIG_IGN);

  try {
    using namespace spml;
    fault::enabled();  // a malformed SPML_FAULT fails here, before any work
    std::vector<std::string> given;
    for (const BoundFlag& f : bound)
      if (f.option->count() > 0) given.push_back(f.key);
    TrainConfig config = training::resolve_train_config(flags, given, config_file);
    if (resume) config = training::resume_config(config.out, config, given);

    config.device = setup_threads_and_device(config.threads, config.device).str();
    set_cpu_kernels(config.cpu_kernels, "--cpu-kernels");

    std::string command;
    for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
    training::TrainCallbacks callbacks;
    callbacks.stop_requested = [] { return g_interrupt != 0; };
    callbacks.command_line = command;
    std::signal(SIGINT, on_sigint);
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
