// The per-data-set settings table (see dataset_settings.h).
#include "training/dataset_settings.h"

#include "kernels/common/error.h"

namespace spml::training {

const std::vector<DatasetSettings>& all_dataset_settings() {
  // The real data sets: ResNet-50 at 448 px, lr 1e-5, batch 8 (16 for COCO and NUS-WIDE), 8 epochs (10 for
  // NUS-WIDE and CUB); k and EM's alpha as published; GR's per-data-set schedules as used by later work on the same
  // code. Fashion-Mosaic: the reference CPU configuration (higher learning rates make val mAP swing by tens of
  // points). Toy Shapes: the tests' tiny generated set (1..3 shapes, uniform, per canvas).
  using losses::GrSettings;
  static const GrSettings kSteepGr{{0, 10, -2, -8}, {0.5, 2, 0.8, 0.5}, {0.01, 1}};
  static const std::vector<DatasetSettings> table = {
      {"voc", 20, "resnet50", 8, 8, 1e-5, 448, 1.5, 0.2, GrSettings{}},
      {"coco", 80, "resnet50", 8, 16, 1e-5, 448, 2.9, 0.1, kSteepGr},
      {"nuswide", 81, "resnet50", 10, 16, 1e-5, 448, 1.9, 0.1, kSteepGr},
      {"cub", 312, "resnet50", 10, 8, 1e-5, 448, 31.4, 0.01,
       GrSettings{{0, 10, -2, -8}, {0.5, 2, 0.8, 0.5}, {0.01, 1.5}}},
      {"fashion-mosaic", 10, "resnet18", 6, 32, 3e-4, 64, 1.76, 0.2, GrSettings{}},
      {"toy-shapes", 4, "resnet18", 2, 16, 1e-3, 32, 2.0, 0.2, GrSettings{}},
  };
  return table;
}

const std::vector<LossSettingsRow>& all_loss_settings() {
  // EM+APL (Zhou et al.): their per-data-set batch, lr, EM alpha, warm-up and beta, 10 epochs, one lr for every
  // parameter. LL-R/Ct/Cp (Kim et al.): batch 16, lr 1e-5, head 10x, 10 epochs, early stop at 3 points; their code
  // takes delta_rel from the command line (0.1 .. 0.5 %) without a per-data-set choice, so 0.2 % here. Fashion-Mosaic
  // keeps its reference training settings (docs/results.md): APL's warm-up at half of the 6 epochs and VOC's beta,
  // LL's delta_rel scaled to its larger share of missing positives (about 9 % of the unobserved entries, against
  // 2 to 4 % on COCO and VOC) and its 6 epochs. Toy Shapes: values that make the tests' 2 epochs exercise them.
  static const std::vector<std::string> kLl{"ll_r", "ll_ct", "ll_cp"}, kApl{"em_apl"};
  static const std::string kLlPublished =
      R"({"epochs": 10, "batch_size": 16, "lr": 1e-5, "lr_mult": 10, "early_stop_drop": 3, "ll_delta_rel": 0.2})";
  static const std::vector<LossSettingsRow> table = {
      {kApl, "voc",
       R"({"epochs": 10, "batch_size": 8, "lr": 1e-5, "lr_mult": 1, "em_alpha": 0.2, "apl_warmup": 5, "apl_beta": 0.02})"},
      {kApl, "coco",
       R"({"epochs": 10, "batch_size": 16, "lr": 1e-5, "lr_mult": 1, "em_alpha": 0.1, "apl_warmup": 5, "apl_beta": 0.9})"},
      {kApl, "nuswide",
       R"({"epochs": 10, "batch_size": 16, "lr": 1e-5, "lr_mult": 1, "em_alpha": 0.1, "apl_warmup": 4, "apl_beta": 0.2})"},
      {kApl, "cub",
       R"({"epochs": 10, "batch_size": 8, "lr": 1e-4, "lr_mult": 1, "em_alpha": 0.01, "apl_warmup": 3, "apl_beta": 0.4})"},
      {kApl, "fashion-mosaic", R"({"apl_warmup": 3, "apl_beta": 0.02})"},
      {kApl, "toy-shapes", R"({"apl_warmup": 1, "apl_beta": 0.2})"},
      {kLl, "voc", kLlPublished},
      {kLl, "coco", kLlPublished},
      {kLl, "nuswide", kLlPublished},
      {kLl, "cub", kLlPublished},
      {kLl, "fashion-mosaic", R"({"ll_delta_rel": 1.0})"},
      {kLl, "toy-shapes", R"({"ll_delta_rel": 5.0})"},
  };
  return table;
}

const std::string* loss_settings_overrides(const std::string& loss, const std::string& dataset) {
  for (const LossSettingsRow& row : all_loss_settings())
    if (row.dataset == dataset)
      for (const std::string& l : row.losses)
        if (l == loss) return &row.overrides;
  return nullptr;
}

const DatasetSettings& dataset_settings(const std::string& dataset) {
  std::string known;
  for (const DatasetSettings& d : all_dataset_settings()) {
    if (d.dataset == dataset) return d;
    known += (known.empty() ? "" : ", ") + d.dataset;
  }
  SPML_FAIL("--dataset: unknown data set '", dataset, "': expected one of ", known);
}

}  // namespace spml::training
