// The run folder's files (see run_folder.h): their JSON forms, the checks before a run starts, atomic writes.
#include "training/run_folder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "framework/core/runtime.h"
#include "framework/io/checkpoint.h"
#include "framework/io/file.h"
#include "framework/io/npy_tensor.h"
#include "kernels/common/error.h"
#include "models/weights.h"
#include "training/json_numbers.h"
#include "training/plot.h"

#ifndef SPML_GIT_COMMIT
#define SPML_GIT_COMMIT "unknown"
#endif

namespace spml::training {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kCheckpointFormat = "spml-train-1";

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

json phases_to_json(const PhaseSeconds& p) {
  return {{"data", p.data},         {"forward", p.forward},     {"loss", p.loss},
          {"backward", p.backward}, {"optimizer", p.optimizer}, {"eval", p.eval}};
}

PhaseSeconds phases_from_json(const json& p) {
  return {p.at("data").get<double>(),     p.at("forward").get<double>(),   p.at("loss").get<double>(),
          p.at("backward").get<double>(), p.at("optimizer").get<double>(), p.at("eval").get<double>()};
}

json record_json(const EpochRecord& r) {
  return {{"epoch", r.epoch},
          {"train_loss", r.train_loss},
          {"val_mAP", r.val_map},
          {"seconds", r.seconds},
          {"images_per_s", r.images_per_s},
          {"phase_seconds", phases_to_json(r.phases)},
          {"skipped_images", r.skipped_images},
          {"skipped_steps", r.skipped_steps}};
}

EpochRecord record_from_json(const json& j) {
  EpochRecord r;
  r.epoch = json_integer<int>(j.at("epoch"), "epoch");
  r.train_loss = j.at("train_loss").get<double>();
  r.val_map = j.at("val_mAP").get<double>();
  r.seconds = j.at("seconds").get<double>();
  r.images_per_s = j.at("images_per_s").get<double>();
  if (j.contains("phase_seconds")) r.phases = phases_from_json(j.at("phase_seconds"));
  r.skipped_images = json_integer_or<int64_t>(j, "skipped_images", 0);  // absent in checkpoints of earlier versions
  r.skipped_steps = json_integer_or<int64_t>(j, "skipped_steps", 0);
  return r;
}

json fresh_run_record(const TrainConfig& config, const RunStartFacts& facts) {
  const BuildInfo build = build_info();
  return {{"config", json::parse(train_config_to_json(config))},
          {"git_commit", SPML_GIT_COMMIT},
          {"build",
           {{"version", build.version},
            {"cuda", build.cuda},
            {"cuda_architectures", build.cuda_architectures},
            {"gemm", build.gemm},
            {"onednn", build.onednn}}},
          {"device", facts.device},
          {"threads", num_threads()},
          {"cpu_kernels", cpu_kernels_description()},
          {"random_init", config.weights.empty()},
          {"weights", config.weights},
          {"weights_sha256", facts.weights_sha256},
          {"deterministic", config.deterministic},
          {"command", facts.command_line},
          {"started", utc_now()},
          {"resumed", json::array()},
          {"skipped_images", {{"total", 0}, {"per_epoch", json::array()}}},
          {"skipped_steps", {{"total", 0}, {"per_epoch", json::array()}}}};
}

}  // namespace

std::string run_position_to_json(const RunPosition& p, const TrainConfig& config) {
  json history = json::array();
  for (const EpochRecord& r : p.history) history.push_back(record_json(r));
  return json{{"format", kCheckpointFormat},
              {"next_epoch", p.next_epoch},
              {"next_step", p.next_step},
              {"loss_sum", p.loss_sum},
              {"loss_images", p.loss_images},
              {"train_seconds", p.train_seconds},
              {"phase_seconds", phases_to_json(p.phases)},
              {"skipped_images", p.skipped_images},
              {"skipped_steps", p.skipped_steps},
              {"history", history},
              {"best_val_mAP", p.best_epoch > 0 ? json(p.best_val_map) : json(nullptr)},
              {"best_epoch", p.best_epoch},
              {"stopped_early", p.stopped_early},
              {"seed", config.seed},
              {"config", json::parse(train_config_to_json(config))}}
      .dump();
}

RunPosition run_position_from_json(const std::string& text, const std::string& source) {
  try {
    const json j = json::parse(text);
    SPML_CHECK(j.value("format", "") == kCheckpointFormat, "not a spml-train checkpoint (format \"",
               j.value("format", ""), "\", expected \"", kCheckpointFormat, "\")");
    RunPosition p;
    p.next_epoch = json_integer<int>(j.at("next_epoch"), "next_epoch");
    p.next_step = json_integer<int64_t>(j.at("next_step"), "next_step");
    p.loss_sum = j.at("loss_sum").get<double>();
    p.loss_images = json_integer<int64_t>(j.at("loss_images"), "loss_images");
    p.train_seconds = j.at("train_seconds").get<double>();
    p.phases = phases_from_json(j.at("phase_seconds"));
    p.skipped_images = json_integer_or<int64_t>(j, "skipped_images", 0);
    p.skipped_steps = json_integer_or<int64_t>(j, "skipped_steps", 0);
    for (const json& r : j.at("history")) p.history.push_back(record_from_json(r));
    p.best_epoch = json_integer<int>(j.at("best_epoch"), "best_epoch");
    if (p.best_epoch > 0) p.best_val_map = j.at("best_val_mAP").get<double>();
    p.stopped_early = j.at("stopped_early").get<bool>();
    SPML_CHECK(p.next_epoch >= 1 && p.next_step >= 0 && int(p.history.size()) == p.next_epoch - 1,
               "inconsistent position (next epoch ", p.next_epoch, ", ", p.history.size(), " epochs of history)");
    return p;
  } catch (const std::exception& e) {
    SPML_FAIL("corrupt checkpoint metadata in ", source, ": ", e.what());
  }
}

FolderLock::FolderLock(const std::string& dir) {
  const std::string lock_path = (fs::path(dir) / ".lock").string();
  fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  SPML_CHECK(fd_ >= 0, lock_path, ": cannot open the run folder's lock file (", std::strerror(errno), ")");
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char text[32] = {};
    const ssize_t n = ::pread(fd_, text, sizeof text - 1, 0);
    std::string holder = n > 0 ? std::string(text, std::size_t(n)) : "";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    ::close(fd_);
    fd_ = -1;
    SPML_CHECK(err != EWOULDBLOCK, dir, " is in use by another process (pid ", holder.empty() ? "unknown" : holder,
               " holds ", lock_path,
               "): wait for it to finish or stop it; a run that was killed releases the lock, "
               "then --resume continues it");
    SPML_FAIL(lock_path, ": cannot lock the run folder (", std::strerror(err), ")");
  }
  // The holder's pid, for the refusal message of the next process (best effort: the lock is what counts).
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] const ssize_t written = ::pwrite(fd_, pid.data(), pid.size(), 0);
  }
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

RunFolder::RunFolder(std::string dir, bool resume) : dir_(std::move(dir)), resume_(resume) {
  const std::string no_run = "--resume: " + checkpoint_path() +
                             " does not exist and neither does config.json (no run was started there): start it "
                             "without --resume";
  if (resume_) {
    SPML_CHECK(fs::is_directory(dir_), no_run);
  } else {
    fs::create_directories(dir_);
  }
  lock_ = std::make_unique<FolderLock>(dir_);
  if (resume_) {
    SPML_CHECK(has_checkpoint() || fs::exists(path("config.json")), no_run);
    starts_over_ = !has_checkpoint();
  } else {
    SPML_CHECK(!fs::exists(path("config.json")) && !has_checkpoint(), "--out ", dir_,
               " already holds a run: pass --resume to continue it, or choose another --out");
  }
  removed_temp_files_ = io::remove_stale_temp_files(dir_);
}

std::string RunFolder::path(const std::string& name) const {
  return (fs::path(dir_) / name).string();
}

bool RunFolder::has_checkpoint() const {
  return fs::exists(checkpoint_path());
}

void RunFolder::write_start(const TrainConfig& config, const RunStartFacts& facts, const RunPosition& position) const {
  const std::string record_path = path("run.json");
  json record;
  if (resume_ && fs::exists(record_path)) {
    record = json::parse(io::read_text_file(record_path));
  } else {
    record = fresh_run_record(config, facts);
  }
  if (resume_) {
    record["resumed"].push_back({{"at", utc_now()}, {"epoch", position.next_epoch}, {"step", position.next_step}});
    record["config"] = json::parse(train_config_to_json(config));
  }
  io::write_file_atomic(path("config.json"), train_config_to_json(config) + "\n");
  io::write_file_atomic(record_path, record.dump(2) + "\n");
}

RunPosition RunFolder::load_checkpoint(nn::Module& state, optim::Optimizer& optimizer) const {
  return run_position_from_json(io::load_checkpoint(checkpoint_path(), state, optimizer), checkpoint_path());
}

void RunFolder::save_checkpoint(const nn::Module& state, const optim::Optimizer& optimizer, const RunPosition& position,
                                const TrainConfig& config) const {
  io::save_checkpoint(checkpoint_path(), state, optimizer, run_position_to_json(position, config));
}

void RunFolder::write_epoch_files(const std::vector<EpochRecord>& history, const std::string& title) const {
  std::ostringstream csv, jsonl;
  csv << "epoch,train_loss,val_mAP,seconds,images_per_s\n";
  csv.precision(10);
  for (const EpochRecord& r : history) {
    csv << r.epoch << ',' << r.train_loss << ',' << r.val_map << ',' << r.seconds << ',' << r.images_per_s << '\n';
    jsonl << record_json(r).dump() << '\n';
  }
  io::write_file_atomic(path("metrics.csv"), csv.str());
  io::write_file_atomic(path("metrics.jsonl"), jsonl.str());

  PlotSeries loss{title, {}, {}}, map{title, {}, {}};
  for (const EpochRecord& r : history) {
    loss.x.push_back(r.epoch);
    loss.y.push_back(r.train_loss);
    map.x.push_back(r.epoch);
    map.y.push_back(r.val_map);
  }
  write_svg(path("plot.svg"), {PlotPanel{"train loss", "epoch", "loss", {loss}},
                               PlotPanel{"validation mAP (clean labels)", "epoch", "mAP (%)", {map}}});
}

void RunFolder::write_run_counts(const std::vector<EpochRecord>& history) const {
  const std::string record_path = path("run.json");
  json record = json::parse(io::read_text_file(record_path));
  json images = {{"total", 0}, {"per_epoch", json::array()}}, steps = images;
  int64_t images_total = 0, steps_total = 0;
  for (const EpochRecord& r : history) {
    images["per_epoch"].push_back(r.skipped_images);
    steps["per_epoch"].push_back(r.skipped_steps);
    images_total += r.skipped_images;
    steps_total += r.skipped_steps;
  }
  images["total"] = images_total;
  steps["total"] = steps_total;
  record["skipped_images"] = images;
  record["skipped_steps"] = steps;
  io::write_file_atomic(record_path, record.dump(2) + "\n");
}

void RunFolder::save_best_weights(const models::ResNet& net, const std::vector<std::string>& class_names) const {
  models::save_resnet_weights(best_weights_path(), net, class_names);
}

void RunFolder::write_test_results(const std::string& test_json, const Tensor& probabilities) const {
  io::write_npy_tensor(path("test_probabilities.npy"), probabilities);
  io::write_file_atomic(path("test.json"), test_json);
}

}  // namespace spml::training
