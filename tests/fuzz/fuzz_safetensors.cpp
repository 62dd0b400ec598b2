// Fuzz target: safetensors parsing from bytes (framework/io/safetensors.h parse_safetensors: the 8-byte header
// length, the JSON header with "__metadata__", "dtype", "shape" and "data_offsets", the tiling of the data buffer),
// then the float conversions callers apply to accepted tensors (to_float32, convert_floating).
#include "framework/io/safetensors.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spml;
  io::SafetensorsFile file;
  if (!fuzz::accepts([&] { file = io::parse_safetensors(data, size, "fuzz.safetensors"); })) return 0;
  std::size_t total = 0;
  for (const auto& entry : file.tensors) {
    const Tensor& t = entry.second;
    total += t.nbytes();
    if (t.dtype() == DType::Float16 || t.dtype() == DType::BFloat16 || t.dtype() == DType::Float64) {
      fuzz::require(fuzz::accepts([&] { io::to_float32(t); }), "to_float32 of a floating tensor");
      fuzz::require(fuzz::accepts([&] { io::convert_floating(t, DType::BFloat16); }), "convert_floating");
    }
  }
  fuzz::require(total <= size, "tensor bytes fit in the input");
  return 0;
}
