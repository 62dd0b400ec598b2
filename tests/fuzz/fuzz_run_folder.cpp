// Fuzz target: the run-folder files a report or a resumed run reads. The input is split at NUL bytes into
// config.json, metrics.jsonl, test.json and run.json (a missing section is a missing file) and read by
// training/report.h run_summary_from_texts (and parse_metrics_jsonl alone); config.json also goes through
// training/train_config.h train_config_from_json over fashion-mosaic's defaults and validate_train_config.
// (The project writes no reader for metrics.csv: it is for people and spreadsheets.)
#include "fuzz_util.h"
#include "training/report.h"
#include "training/train_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spml;
  const std::vector<std::string> parts = fuzz::split_sections(fuzz::as_text(data, size), 4);
  training::RunFolderTexts texts;
  texts.config_json = parts[0];
  if (parts.size() > 1) texts.metrics_jsonl = parts[1];
  if (parts.size() > 2) texts.test_json = parts[2];
  if (parts.size() > 3) texts.run_json = parts[3];
  training::RunSummary run;
  if (fuzz::accepts([&] { run = training::run_summary_from_texts("runs/fuzz", texts); }))
    fuzz::require(run.name == "fuzz" && run.finished == texts.test_json.has_value(), "summary of the folder");
  if (texts.metrics_jsonl) fuzz::accepts([&] { training::parse_metrics_jsonl(*texts.metrics_jsonl, "metrics.jsonl"); });
  fuzz::accepts([&] {
    const training::TrainConfig base = training::default_train_config("fashion-mosaic");
    const training::TrainConfig config = training::train_config_from_json(parts[0], "config.json", base);
    training::validate_train_config(config);
  });
  return 0;
}
