// Fuzz target: .npy parsing (framework/io/npy.h parse_npy: versions 1-3, every dtype and byte order, C and Fortran
// order, unicode), then what callers do with an accepted array: npy_to_tensor for numeric arrays, npy_strings for
// unicode ones, and a serialize_npy -> parse_npy round trip that must give the same array back.
#include "framework/io/npy.h"
#include "framework/io/npy_tensor.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spml;
  const std::vector<uint8_t> bytes(data, data + size);
  io::NpyArray array;
  if (!fuzz::accepts([&] { array = io::parse_npy(bytes, "fuzz.npy"); })) return 0;
  fuzz::require(array.data.size() == std::size_t(array.numel()) * array.item_size(), "data size == numel * item");
  if (array.type == io::NpyType::Unicode) {
    fuzz::accepts([&] { io::npy_strings(array); });
  } else {
    fuzz::accepts([&] {
      const Tensor t = io::npy_to_tensor(array, "fuzz.npy");
      fuzz::require(t.numel() == array.numel(), "tensor numel == array numel");
    });
  }
  io::NpyArray again;
  fuzz::require(fuzz::accepts([&] { again = io::parse_npy(io::serialize_npy(array), "round-trip.npy"); }),
                "serialize_npy output parses");
  fuzz::require(again.type == array.type && again.shape == array.shape && again.data == array.data &&
                    again.string_length == array.string_length,
                "serialize_npy -> parse_npy round trip");
  return 0;
}
