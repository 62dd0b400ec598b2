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

const DatasetSettings& dataset_settings(const std::string& dataset) {
  std::string known;
  for (const DatasetSettings& d : all_dataset_settings()) {
    if (d.dataset == dataset) return d;
    known += (known.empty() ? "" : ", ") + d.dataset;
  }
  SPML_FAIL("--dataset: unknown data set '", dataset, "': expected one of ", known);
}

}  // namespace spml::training
