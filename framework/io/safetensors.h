// safetensors files (8-byte little-endian header length N, N bytes of JSON header, raw little-endian data):
// reading with full validation, atomic writing that Python's safetensors library reads, exact F16/BF16 -> F32
// conversion, and loading pretrained weights into a model whose classification head has another shape.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "framework/core/tensor.h"

namespace spml::nn {
class Module;
}

namespace spml::io {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;        // CPU tensors, by key
  std::map<std::string, std::string> metadata;  // "__metadata__" (string values only); empty when absent
};

// Reads a whole safetensors file into CPU tensors. Accepted dtypes: F32, F64, F16, BF16, I64, I32, U8, BOOL
// (F16/BF16 stay Float16/BFloat16 storage tensors; see to_float32). Throws spml::Error naming the path and the
// problem for: a file shorter than 8 bytes, a header length beyond the end of the file, a header that is not a
// JSON object, a malformed entry, an unsupported dtype (names key and dtype), a byte range whose size is not
// shape x dtype size (names key and both sizes), offsets beyond the buffer, overlapping ranges, or bytes of the
// buffer that no tensor covers (the format requires the ranges to tile the buffer exactly).
// Caps: the header may be at most kMaxSafetensorsHeaderBytes long (Python's safetensors has the same limit) and
// nested at most kMaxSafetensorsJsonDepth levels deep; every tensor's bytes are checked against the data actually
// present before anything is allocated, so a hostile header never causes an allocation larger than the file.
SafetensorsFile read_safetensors(const std::string& path);

// The same for a whole file already in memory (a fuzz target's input, a download); `name` stands in for the path
// in error messages.
SafetensorsFile parse_safetensors(const uint8_t* data, std::size_t size, const std::string& name);
SafetensorsFile parse_safetensors(const std::vector<uint8_t>& bytes, const std::string& name);

inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100000000;  // 100 MB
inline constexpr int kMaxSafetensorsJsonDepth = 64;

// Writes `tensors` (any device; copied to the host) atomically (io::write_file_atomic). The header lists
// "__metadata__" first (omitted when empty), then the tensors in sorted key order, their data laid out in the
// same order without gaps; the header is padded with spaces so the data starts at a multiple of 8 bytes.
// Keys must be non-empty and not "__metadata__".
void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Float16/BFloat16 -> Float32, exactly (subnormals, infinities and NaNs included; NaN payloads kept in the
// high bits). Float32 is returned as is; Float64 is rounded to nearest. Other dtypes are an error. The
// conversion runs on the CPU; the result lies on the input's device.
Tensor to_float32(const Tensor& t);
// Converts between any two floating dtypes (Float32/Float64/Float16/BFloat16) on the CPU, rounding to nearest
// even when narrowing; the result lies on the input's device. Returns `t` itself when the dtype already matches.
Tensor convert_floating(const Tensor& t, DType target);

struct LoadReport {
  std::vector<std::string> skipped_head_keys;  // model keys under head_prefix left as initialised (sorted)
  std::vector<std::string> unexpected_keys;    // file keys the model does not have (sorted), not loaded
};

// Loads pretrained `weights` (e.g. an ImageNet ResNet with a 1000-class "fc") into `model`:
// - Every model key (parameters and buffers) must be present in `weights`; a missing key is an error naming all
//   missing keys, head keys included (a file without a head does not load through this function).
// - When a key under `head_prefix` differs in shape, the whole head (every model key under head_prefix) is
//   skipped: it stays as initialised and is listed in skipped_head_keys. head_prefix "" disables skipping.
// - Any other shape mismatch is an error naming the key and both shapes.
// - File keys the model lacks (e.g. "*.num_batches_tracked" for a model without that buffer) are ignored and
//   listed in unexpected_keys.
// - Floating weights of another floating dtype (F16, BF16, F64, ...) are converted to the model tensor's dtype;
//   other dtype differences are errors naming the key and both dtypes.
// - Values are copied into the model's tensors on their device. Everything is checked before anything is
//   copied, so a failed load leaves the model unchanged.
// The caller prints the report.
LoadReport load_weights(nn::Module& model, const std::map<std::string, Tensor>& weights,
                        const std::string& head_prefix = "fc.");

}  // namespace spml::io
