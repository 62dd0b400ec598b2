// spml-train's flags (see train_flags.h).
#include "apps/support/train_flags.h"

#include <algorithm>
#include <csignal>

#include "framework/core/runtime.h"
#include "losses/spml_loss.h"
#include "training/dataset_settings.h"

namespace spml::apps {

namespace {
volatile std::sig_atomic_t g_interrupt = 0;

void on_sigint(int) {
  g_interrupt = 1;
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process at once
}
}  // namespace

void install_sigint_stop() {
  std::signal(SIGINT, on_sigint);
}

bool sigint_stop_requested() {
  return g_interrupt != 0;
}

std::vector<std::string> TrainFlags::given() const {
  std::vector<std::string> keys;
  for (const Bound& b : bound)
    if (b.option->count() > 0) keys.push_back(b.key);
  return keys;
}

training::TrainConfig TrainFlags::resolve() const {
  return training::resolve_train_config(values, given(), config_file);
}

void add_train_flags(CLI::App& app, TrainFlags& flags, const std::string& out_help, bool out_required) {
  using training::TrainConfig;
  TrainConfig& v = flags.values;
  auto bind = [&](const std::string& name, auto& field, const std::string& help) {
    CLI::Option* option = app.add_option(name, field, help);
    std::string key = name.substr(2);
    std::replace(key.begin(), key.end(), '-', '_');
    flags.bound.push_back({option, key});
    return option;
  };
  auto bind_flag = [&](const std::string& name, bool& field, const std::string& help) {
    CLI::Option* option = app.add_flag(name, field, help);
    std::string key = name.substr(2);
    std::replace(key.begin(), key.end(), '-', '_');
    flags.bound.push_back({option, key});
  };
  bind("--dataset", v.dataset,
       "voc, coco, nuswide, cub, fashion-mosaic or toy-shapes: picks the defaults (default fashion-mosaic)");
  bind("--data", v.data,
       "pre-formatted folder (fashion-mosaic/toy-shapes: generated when absent; default data/<dataset> for them)");
  bind("--images", v.images, "image root (default: the folder's dataset.json)");
  bind("--arch", v.arch, "resnet18, resnet34, resnet50 or resnet101");
  bind("--width", v.width, "channels of the ResNet stem (64 = torchvision)");
  bind("--weights", v.weights, "backbone initialisation (.safetensors, torchvision keys); none: random");
  bind("--loss", v.loss, "loss: " + CLI::detail::join(losses::loss_names()));
  bind("--mode", v.mode,
       "end-to-end; linear-fixed-features (a Linear head on cached pooled features, 25 epochs); linear-init "
       "(stage 1 linear-fixed-features, stage 2 end to end from its best head)");
  bind("--stage1-epochs", v.stage1_epochs, "--mode linear-init: epochs of stage 1");
  bind("--feature-cache", v.feature_cache,
       "linear modes: folder of the cached features (default <data>/feature_cache)");
  bind("--epochs", v.epochs, "epochs T");
  bind("--batch-size", v.batch_size, "batch size");
  bind("--lr", v.lr, "backbone learning rate (Adam)");
  bind("--lr-mult", v.lr_mult, "the head's learning rate multiplier");
  bind("--linear-init", v.linear_init, "GR's frozen-backbone epochs (end-to-end mode; not --mode linear-init)");
  bind("--early-stop-drop", v.early_stop_drop, "stop once val mAP is this many points below the best");
  bind("--checkpoint-minutes", v.checkpoint_minutes,
       "also write last.ckpt mid-epoch every this many minutes (0: at epoch ends only)");
  bind("--beta", v.beta, "GR: w0 wT b0 bT")->expected(4);
  bind("--alpha", v.alpha, "GR: mu0 sigma0 muT sigmaT (NOTE: not beta's order)")->expected(4);
  bind("--q2q3", v.q2q3, "GR: q2 q3")->expected(2);
  bind("--expected-pos", v.expected_pos, "EPR/ROLE: expected positives per image k");
  bind("--em-alpha", v.em_alpha, "EM, EM+APL: weight of the entropy term");
  bind("--apl-warmup", v.apl_warmup, "EM+APL: the pseudo-labelling pass runs after this epoch and every later one");
  bind("--apl-beta", v.apl_beta, "EM+APL: weight of the pseudo-labelled (soft negative) entries");
  bind("--ll-delta-rel", v.ll_delta_rel, "LL-R/Ct/Cp: the clean rate's drop per epoch, in percent");
  bind("--role-init", v.role_init, "ROLE: label-estimate logits to start from (.npy [N_train, C])");
  bind("--image-size", v.image_size, "images are resized to S x S");
  bind("--device", v.device, "cpu, cuda or cuda:N");
  bind("--seed", v.seed, "model init, shuffling, flips, ROLE's estimates");
  bind("--init-seed", v.init_seed, "seed of the model's random init (-1: --seed)");
  bind("--order-seed", v.order_seed, "seed of the per-epoch sample order (-1: --seed)");
  bind("--flip-seed", v.flip_seed, "seed of the per-epoch horizontal flips (-1: --seed)");
  bind("--order-file", v.order_file,
       "JSON order file fixing every epoch's sample order and flips (format: framework/data/sample_schedule.h)");
  bind("--dtype", v.dtype, "float32, or float64 (exactness checks; slow)");
  CLI::Option* out = bind("--out", v.out, out_help);
  if (out_required) out->required();
  bind("--threads", v.threads, "CPU threads (0: all cores)");
  bind("--workers", v.workers, "image decoding threads (0: the thread count)");
  bind("--cpu-kernels", v.cpu_kernels,
       "float32 CPU kernels: onednn or reference (default: " + default_cpu_kernels_name() + ")");
  bind("--max-train", v.max_train, "keep the first N train rows (after the 80/20 split); 0: all");
  bind("--on-bad-image", v.on_bad_image,
       "a training image that cannot be read: fail (stop, naming it) or skip (drop it, counted in run.json); "
       "val/test images always fail");
  bind("--on-nonfinite", v.on_nonfinite,
       "a NaN/Inf loss or logits: stop (naming epoch, step, loss and batch) or skip (no update, counted)");
  bind_flag("--deterministic", v.deterministic,
            "deterministic cuDNN convolution algorithms (CPU runs are always deterministic)");
  bind_flag("--no-flip", v.no_flip, "train without the random horizontal flip");
  app.add_option("--config", flags.config_file, "read the settings from a config.json (flags given too override it)");
}

std::string train_defaults_footer() {
  std::string footer = "Defaults per --dataset (training/dataset_settings.h; flags override them):";
  for (const auto& d : training::all_dataset_settings())
    footer += "\n  " + d.dataset + ": " + d.arch + ", " + std::to_string(d.epochs) + " epochs, batch " +
              std::to_string(d.batch_size) + ", lr " + CLI::detail::to_string(d.lr) + ", " +
              std::to_string(d.image_size) + " px, " + std::to_string(d.num_classes) + " classes";
  footer += "\nPer-loss settings laid over them (the losses' papers):";
  for (const auto& row : training::all_loss_settings())
    footer += "\n  " + CLI::detail::join(row.losses, "/") + " on " + row.dataset + ": " + row.overrides;
  return footer;
}

}  // namespace spml::apps
