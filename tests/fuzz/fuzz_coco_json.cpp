// Fuzz target: COCO instances JSON (framework/data/builders/public_parsers.h parse_coco_instances: the SAX pass
// over images / annotations / categories, duplicate and unknown ids, the label matrix and its cap).
#include "framework/data/builders/public_parsers.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spml;
  data::CocoInstances coco;
  if (!fuzz::accepts([&] { coco = data::parse_coco_instances(fuzz::as_text(data, size), "instances_fuzz2014.json"); }))
    return 0;
  fuzz::require(coco.file_names.size() == coco.labels.size(), "one label row per image");
  for (const auto& row : coco.labels) fuzz::require(row.size() == coco.class_names.size(), "row width == classes");
  return 0;
}
