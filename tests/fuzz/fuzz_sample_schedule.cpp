// Fuzz target: order files (framework/data/sample_schedule.h parse_sample_schedule: the format tag, "size", every
// epoch's "order" permutation and "flip" list). An accepted schedule must pass check_sample_schedule for its own size
// and epoch count.
#include "framework/data/sample_schedule.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spml;
  data::SampleSchedule s;
  if (!fuzz::accepts([&] { s = data::parse_sample_schedule(fuzz::as_text(data, size), "fuzz-order.json"); })) return 0;
  fuzz::require(fuzz::accepts([&] { data::check_sample_schedule(s, s.size, s.epochs(), "fuzz-order.json"); }),
                "a parsed schedule fits itself");
  for (std::size_t e = 0; e < s.orders.size(); ++e)
    fuzz::require(int64_t(s.orders[e].size()) == s.size && int64_t(s.flips[e].size()) == s.size, "epoch sizes");
  return 0;
}
