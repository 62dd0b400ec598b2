// The defaults of a data set, validation, layering and the JSON form of TrainConfig.
#include "training/train_config.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "framework/io/file.h"
#include "kernels/common/error.h"
#include "kernels/cpu/onednn_kernels.h"
#include "losses/spml_loss.h"
#include "models/resnet.h"
#include "training/json_numbers.h"

namespace spml::training {
namespace {

using nlohmann::json;

// One place lists the fields: the JSON writer, reader and comparison all expand it.
// clang-format off
#define SPML_TRAIN_CONFIG_FIELDS(X)                                                                   \
  X(dataset) X(data) X(images) X(arch) X(width) X(weights) X(loss) X(epochs) X(batch_size) X(lr)      \
  X(lr_mult) X(linear_init) X(beta) X(alpha) X(q2q3) X(expected_pos) X(em_alpha) X(image_size)        \
  X(device) X(seed) X(out) X(deterministic) X(threads) X(workers) X(max_train)    \
  X(cpu_kernels) X(init_seed) X(order_seed) X(flip_seed) X(no_flip) X(order_file) X(dtype)   \
  X(on_bad_image) X(on_nonfinite) X(early_stop_drop) X(mode) X(stage1_epochs) X(feature_cache) X(role_init)   \
  X(apl_warmup) X(apl_beta) X(ll_delta_rel) X(checkpoint_minutes)
// clang-format on

json to_json_object(const TrainConfig& c) {
  json j = json::object();
#define SPML_WRITE_FIELD(name) j[#name] = c.name;
  SPML_TRAIN_CONFIG_FIELDS(SPML_WRITE_FIELD)
#undef SPML_WRITE_FIELD
  return j;
}

// Type-checked read of one key: JSON numbers into integers only when integral, no strings for numbers, etc.
template <class T>
void read_field(const json& j, const char* key, T& field, const std::string& source) {
  const auto it = j.find(key);
  if (it == j.end()) return;
  const json& v = *it;
  bool ok = false;
  if constexpr (std::is_same_v<T, std::string>) {
    ok = v.is_string();
  } else if constexpr (std::is_same_v<T, bool>) {
    ok = v.is_boolean();
  } else if constexpr (std::is_integral_v<T>) {
    ok = v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
  } else if constexpr (std::is_floating_point_v<T>) {
    ok = v.is_number();
  } else {  // std::vector<double>
    ok = v.is_array();
    if (ok)
      for (const json& e : v) ok = ok && e.is_number();
  }
  SPML_CHECK(ok, source, ": key \"", key, "\" has the wrong type (", v.dump(), ")");
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    try {
      field = json_integer<T>(v, key);
    } catch (const std::exception& e) {
      SPML_FAIL(source, ": ", e.what());
    }
  } else
    field = v.get<T>();
}

bool vector_contains(const std::vector<std::string>& names, const std::string& name) {
  for (const auto& n : names)
    if (n == name) return true;
  return false;
}

}  // namespace

TrainConfig default_train_config(const std::string& dataset, const std::string& loss, const std::string& mode) {
  const DatasetSettings& t = dataset_settings(dataset);
  TrainConfig c;
  c.dataset = dataset;
  c.arch = t.arch;
  c.epochs = t.epochs;
  c.batch_size = t.batch_size;
  c.lr = t.lr;
  c.image_size = t.image_size;
  c.beta = t.gr.beta;
  c.alpha = t.gr.alpha;
  c.q2q3 = t.gr.q2q3;
  c.expected_pos = t.expected_positives;
  c.em_alpha = t.em_alpha;
  c.loss = loss;
  c.mode = mode;
  if (mode == "linear-fixed-features") c.epochs = kLinearFixedFeaturesEpochs;
  // The loss's own published settings on this data set (its row of the losses' table), over the data set's.
  if (const std::string* overrides = loss_settings_overrides(loss, dataset))
    c = train_config_from_json(*overrides, "the losses' table (" + loss + " on " + dataset + ")", c);
  return c;
}

void validate_train_config(const TrainConfig& c) {
  dataset_settings(c.dataset);
  SPML_CHECK(!c.data.empty(), "--data: the data set's pre-formatted folder is required");
  SPML_CHECK(!c.out.empty(), "--out: the run folder is required");
  SPML_CHECK(vector_contains(models::resnet_architectures(), c.arch), "--arch: unknown architecture '", c.arch,
             "': expected resnet18, resnet34, resnet50 or resnet101");
  losses::parse_loss_name(c.loss);
  SPML_CHECK(c.width >= 8, "--width must be >= 8, got ", c.width);
  SPML_CHECK(c.epochs >= 1, "--epochs must be >= 1, got ", c.epochs);
  SPML_CHECK(c.linear_init >= 0 && c.linear_init < c.epochs, "--linear-init must be in [0, --epochs), got ",
             c.linear_init, " with --epochs ", c.epochs);
  SPML_CHECK(c.batch_size >= 1, "--batch-size must be >= 1, got ", c.batch_size);
  SPML_CHECK(c.lr > 0 && std::isfinite(c.lr), "--lr must be a positive number, got ", c.lr);
  SPML_CHECK(c.lr_mult > 0 && std::isfinite(c.lr_mult), "--lr-mult must be a positive number, got ", c.lr_mult);
  SPML_CHECK(c.image_size >= 16 && c.image_size <= 4096, "--image-size must be in [16, 4096], got ", c.image_size);
  SPML_CHECK(c.expected_pos > 0, "--expected-pos must be positive, got ", c.expected_pos);
  SPML_CHECK(c.em_alpha >= 0, "--em-alpha must be >= 0, got ", c.em_alpha);
  if (!c.cpu_kernels.empty()) kernels::onednn::parse_cpu_kernels(c.cpu_kernels, "--cpu-kernels");
  SPML_CHECK(c.threads >= 0, "--threads must be >= 0, got ", c.threads);
  SPML_CHECK(c.workers >= 0, "--workers must be >= 0, got ", c.workers);
  SPML_CHECK(c.max_train >= 0, "--max-train must be >= 0, got ", c.max_train);
  SPML_CHECK(c.seed >= 0, "--seed must be >= 0, got ", c.seed);
  SPML_CHECK(c.init_seed >= -1, "--init-seed must be >= 0 (or -1: --seed), got ", c.init_seed);
  SPML_CHECK(c.order_seed >= -1, "--order-seed must be >= 0 (or -1: --seed), got ", c.order_seed);
  SPML_CHECK(c.flip_seed >= -1, "--flip-seed must be >= 0 (or -1: --seed), got ", c.flip_seed);
  SPML_CHECK(c.order_file.empty() || (c.order_seed < 0 && c.flip_seed < 0 && !c.no_flip),
             "--order-file fixes the order and the flips: it cannot be combined with --order-seed, --flip-seed or "
             "--no-flip");
  SPML_CHECK(c.dtype == "float32" || c.dtype == "float64", "--dtype must be float32 or float64, got '", c.dtype, "'");
  SPML_CHECK(c.on_bad_image == "fail" || c.on_bad_image == "skip", "--on-bad-image must be fail or skip, got '",
             c.on_bad_image, "'");
  SPML_CHECK(c.on_nonfinite == "stop" || c.on_nonfinite == "skip", "--on-nonfinite must be stop or skip, got '",
             c.on_nonfinite, "'");
  SPML_CHECK(c.early_stop_drop >= 0 && std::isfinite(c.early_stop_drop),
             "--early-stop-drop must be a number >= 0 (points of val mAP), got ", c.early_stop_drop);
  SPML_CHECK(c.checkpoint_minutes >= 0 && std::isfinite(c.checkpoint_minutes),
             "--checkpoint-minutes must be a number >= 0 (0: checkpoints at epoch ends only), got ",
             c.checkpoint_minutes);
  SPML_CHECK(c.mode == "end-to-end" || c.mode == "linear-fixed-features" || c.mode == "linear-init",
             "--mode must be end-to-end, linear-fixed-features or linear-init, got '", c.mode, "'");
  SPML_CHECK(c.stage1_epochs >= 1, "--stage1-epochs must be >= 1, got ", c.stage1_epochs);
  SPML_CHECK(c.mode == "end-to-end" || c.linear_init == 0, "--linear-init (GR's frozen-backbone epochs) applies to ",
             "--mode end-to-end only; --mode ", c.mode, " is Cole et al.'s linear training");
  SPML_CHECK(c.role_init.empty() || c.loss == "role", "--role-init is for --loss role, not ", c.loss);
  if (c.loss == "em_apl")
    SPML_CHECK(c.apl_warmup >= 1 && c.apl_warmup < c.epochs, "--apl-warmup must be in [1, --epochs), got ",
               c.apl_warmup, " with --epochs ", c.epochs, " (the pseudo-labels are spread over the epochs after it)");
  SPML_CHECK(c.apl_beta >= 0 && std::isfinite(c.apl_beta), "--apl-beta must be a number >= 0, got ", c.apl_beta);
  SPML_CHECK(c.ll_delta_rel > 0 && c.ll_delta_rel <= 100, "--ll-delta-rel must be in (0, 100] (percent), got ",
             c.ll_delta_rel);
  // GrSchedule names the vector and the value at fault.
  losses::GrSchedule(losses::GrSettings{c.beta, c.alpha, c.q2q3}, c.epochs, c.linear_init);
}

uint64_t stream_seed(const TrainConfig& config, int64_t stream_seed_value) {
  return uint64_t(stream_seed_value >= 0 ? stream_seed_value : config.seed);
}

DType train_dtype(const TrainConfig& config) {
  return config.dtype == "float64" ? DType::Float64 : DType::Float32;
}

std::string train_config_to_json(const TrainConfig& config) {
  return to_json_object(config).dump(2);
}

TrainConfig train_config_from_json(const std::string& json_text, const std::string& source, const TrainConfig& base) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const std::exception& e) {
    SPML_FAIL(source, ": not valid JSON (", e.what(), ")");
  }
  SPML_CHECK(j.is_object(), source, ": expected a JSON object of training settings");
  const json known = to_json_object(base);
  for (const auto& item : j.items())
    SPML_CHECK(known.contains(item.key()), source, ": unknown key \"", item.key(), "\"");
  TrainConfig c = base;
#define SPML_READ_FIELD(name) read_field(j, #name, c.name, source);
  SPML_TRAIN_CONFIG_FIELDS(SPML_READ_FIELD)
#undef SPML_READ_FIELD
  return c;
}

TrainConfig resolve_train_config(const TrainConfig& flags, const std::vector<std::string>& given,
                                 const std::string& config_file) {
  const auto was_given = [&](const std::string& key) {
    return std::find(given.begin(), given.end(), key) != given.end();
  };
  // The data set, the loss and the mode pick the defaults, so they are read first: each the flag's, else --config's,
  // else the default (fashion-mosaic, gr, end-to-end).
  std::string text;
  json file = json::object();
  if (!config_file.empty()) {
    text = io::read_text_file(config_file);
    file = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!file.is_object()) file = json::object();  // train_config_from_json below names the problem
  }
  const auto chosen = [&](const char* key, const std::string& flag_value, const std::string& fallback) {
    if (was_given(key)) return flag_value;
    if (file.contains(key) && file[key].is_string()) return file[key].get<std::string>();
    return fallback;
  };
  const std::string dataset = chosen("dataset", flags.dataset, "fashion-mosaic");
  TrainConfig config =
      default_train_config(dataset, chosen("loss", flags.loss, "gr"), chosen("mode", flags.mode, "end-to-end"));
  if (!config_file.empty()) config = train_config_from_json(text, config_file, config);
  const json flag_values = to_json_object(flags);
  json given_values = json::object();
  for (const std::string& key : given) {
    SPML_CHECK(flag_values.contains(key), "resolve_train_config: no setting \"", key, "\"");
    given_values[key] = flag_values.at(key);
  }
  config = train_config_from_json(given_values.dump(), "the command line", config);
  if (config.data.empty() && (config.dataset == "fashion-mosaic" || config.dataset == "toy-shapes"))
    config.data = "data/" + config.dataset;
  return config;
}

std::vector<std::string> train_config_differences(const TrainConfig& a, const TrainConfig& b) {
  std::vector<std::string> names;
#define SPML_COMPARE_FIELD(name) \
  if (!(a.name == b.name)) names.push_back(#name);
  SPML_TRAIN_CONFIG_FIELDS(SPML_COMPARE_FIELD)
#undef SPML_COMPARE_FIELD
  return names;
}

}  // namespace spml::training
