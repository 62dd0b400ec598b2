// Fuzz target: VOC 2012 ImageSets/Main/<class>_<split>.txt lists (framework/data/builders/public_parsers.h
// parse_voc_class_list: "<image id> <1|0|-1>" lines, blank lines, CRLF).
#include "framework/data/builders/public_parsers.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spml;
  std::vector<data::VocListEntry> entries;
  if (!fuzz::accepts([&] { entries = data::parse_voc_class_list(fuzz::as_text(data, size), "aeroplane_train.txt"); }))
    return 0;
  for (const auto& e : entries) fuzz::require(e.value >= -1 && e.value <= 1 && !e.id.empty(), "entry in range");
  return 0;
}
