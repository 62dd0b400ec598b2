// The configuration of one SPML training run (docs/method.md section 7): every spml-train flag as a field, the training
// defaults per data set in one table, and the JSON form written to RUNDIR/config.json (keys = flag names with
// underscores) that --config and --resume read back.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/core/dtype.h"
#include "losses/spml_loss.h"
#include "training/dataset_settings.h"

namespace spml::training {

struct TrainConfig {
  std::string dataset = "fashion-mosaic";
  std::string data;    // the pre-formatted folder (generated first for fashion-mosaic / toy-shapes when absent)
  std::string images;  // image root; "" = the folder's dataset.json (else the folder itself)
  std::string arch = "resnet18";
  int64_t width = 64;   // channels of the ResNet stem (64 = torchvision; smaller only for tests)
  std::string weights;  // backbone initialisation (.safetensors, torchvision keys); "" = random init
  std::string loss = "gr";
  int epochs = 6;
  int64_t batch_size = 32;
  double lr = 3e-4;
  double lr_mult = 10;  // the head's learning rate is lr x lr_mult
  int linear_init = 0;  // epochs with the backbone frozen (BatchNorm statistics still update)
  std::vector<double> beta = losses::GrSettings{}.beta;    // GR: w0 wT b0 bT
  std::vector<double> alpha = losses::GrSettings{}.alpha;  // GR: mu0 sigma0 muT sigmaT
  std::vector<double> q2q3 = losses::GrSettings{}.q2q3;    // GR: q2 q3
  double expected_pos = 1.76;                              // EPR / ROLE: k
  double em_alpha = 0.2;                                   // EM
  int image_size = 64;
  std::string device = "cpu";
  int64_t seed = 0;  // model init, shuffling, flips, ROLE's estimates (each stream unless its own seed is set)
  // Seeds per random stream for controlled comparisons; -1: `seed`.
  int64_t init_seed = -1;   // the model's random initialisation
  int64_t order_seed = -1;  // the per-epoch sample order
  int64_t flip_seed = -1;   // the per-epoch horizontal flips
  bool no_flip = false;     // train without the random horizontal flip
  // An order file (framework/data/sample_schedule.h) fixing every epoch's sample order and flips; it replaces
  // order_seed, flip_seed and no_flip. "" = seeded.
  std::string order_file;
  std::string dtype = "float32";  // float32, or float64 (parity and trajectory checks; slow)
  std::string out;                // RUNDIR
  bool deterministic = false;
  int threads = 0;          // CPU threads (0: all cores)
  int workers = 0;          // loader threads (0: the thread count)
  std::string cpu_kernels;  // float32 CPU kernels: onednn, reference; empty: the build's default
  int64_t max_train = 0;    // keep the first N train rows (after the 80/20 split); 0 = all
  // A training image that cannot be read or decoded: "fail" stops the run naming it; "skip" drops it from its
  // batch (counted per epoch in metrics.jsonl and run.json). Validation and test images always fail: skipping
  // one would change the mAP the run is judged by.
  std::string on_bad_image = "fail";
  // A step whose loss or logits are NaN/Inf: "stop" ends the run naming the epoch, step, loss and batch (last.ckpt
  // keeps the last good state); "skip" leaves that step out (no update, BatchNorm statistics restored), counted.
  std::string on_nonfinite = "stop";
  // Stop once the best val mAP exceeds the current one by more than this many points (the protocol: 2; LL: 3).
  double early_stop_drop = 2;
  // Also write last.ckpt mid-epoch once this many minutes have passed since the last checkpoint, so a kill loses at
  // most that much training (0: at epoch ends only). Results do not depend on it; --resume may change it.
  double checkpoint_minutes = 10;
  // The training mode (docs/method.md section 7.2): "end-to-end"; "linear-fixed-features" (Cole et al.: only a Linear
  // head trains, on the backbone's pooled features extracted once into feature_cache, no augmentation);
  // "linear-init" (stage 1 linear-fixed-features for stage1_epochs into RUNDIR/stage1, stage 2 end to end from the
  // best stage-1 head into RUNDIR/stage2; ROLE's estimates carried over).
  std::string mode = "end-to-end";
  int stage1_epochs = 25;
  std::string feature_cache;  // the cached features' folder; "" = <data>/feature_cache
  // ROLE: the label-estimate logits to start from (.npy [N_train, C], e.g. stage 1's best_label_estimates.npy);
  // "" = ROLE's own initialisation.
  std::string role_init;
  int apl_warmup = 3;         // em_apl: the first epoch after which the asymmetric pseudo-labelling pass runs
  double apl_beta = 0.02;     // em_apl: the weight of the pseudo-labelled (soft negative) entries
  double ll_delta_rel = 1.0;  // ll_r, ll_ct, ll_cp: the clean rate's drop per epoch, in percent
};

// Cole et al.'s linear_fixed_features mode trains its head for 25 epochs.
constexpr int kLinearFixedFeaturesEpochs = 25;

// The defaults of `dataset` for `loss` in `mode`: the data set's row of the data-set table, then
// (linear-fixed-features) 25 epochs, then the loss's own row of the losses' table on that data set when it has one
// (training/dataset_settings.h).
TrainConfig default_train_config(const std::string& dataset, const std::string& loss = "gr",
                                 const std::string& mode = "end-to-end");

// Checks every field (names the flag and the accepted values): known data set, arch and loss, epochs >= 1,
// 0 <= linear_init < epochs, positive batch size / lr / lr_mult / image size, vector lengths, GR's schedule
// (via losses::GrSchedule), non-empty data and out, on_bad_image fail|skip, on_nonfinite stop|skip.
void validate_train_config(const TrainConfig& config);

// The seed of one random stream: the stream's own seed (init_seed, order_seed, flip_seed) when >= 0, else seed.
uint64_t stream_seed(const TrainConfig& config, int64_t stream_seed_value);
// The dtype the model trains in (config.dtype).
DType train_dtype(const TrainConfig& config);

// JSON object with one key per field (flag names with underscores: "batch_size", "lr_mult", "q2q3", ...).
std::string train_config_to_json(const TrainConfig& config);
// Reads that format. Keys may be a subset: the missing ones keep the values of `base`. An unknown key, a value
// of the wrong type or text that is not a JSON object is an error naming `source` and the key.
TrainConfig train_config_from_json(const std::string& json_text, const std::string& source, const TrainConfig& base);
// The configuration a command line asks for, in layers: the defaults of the data set, loss and mode (each from the
// flags, else from the config file, else fashion-mosaic, gr, end-to-end), then the config file (a config.json; "" =
// none), then each setting named in `given` (JSON keys, e.g. "batch_size") with its value from `flags`. fashion-mosaic
// and toy-shapes default their data folder to data/<dataset>. Errors name the config file and the key.
TrainConfig resolve_train_config(const TrainConfig& flags, const std::vector<std::string>& given,
                                 const std::string& config_file);

// Names of the fields whose values differ between a and b (the JSON keys), in field order.
std::vector<std::string> train_config_differences(const TrainConfig& a, const TrainConfig& b);

}  // namespace spml::training
