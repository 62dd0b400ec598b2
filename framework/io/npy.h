// NumPy .npy files (format versions 1.0, 2.0, 3.0): read, write, and UTF-8 <-> UTF-32 helpers for string arrays.
// Tensor-free on purpose: an NpyArray is a type tag, a shape and raw little-endian C-order bytes, so the data sets
// (label matrices in the SPML .npy layout) and tests can use it without the tensor type; Tensor adapters sit on top.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace spml::io {

// The element types this reader understands. Unicode is NumPy's fixed-width 'U<n>' (n UTF-32 code units each).
enum class NpyType {
  Float16,
  Float32,
  Float64,
  Int8,
  Int16,
  Int32,
  Int64,
  UInt8,
  UInt16,
  UInt32,
  UInt64,
  Bool,
  Unicode
};

struct NpyArray {
  NpyType type = NpyType::Float32;
  std::vector<int64_t> shape;  // () for a scalar -> numel 1
  std::vector<uint8_t> data;   // C order, little-endian (converted on read), numel * item_size bytes
  int64_t string_length = 0;   // Unicode: characters per element (UTF-32 code units as stored)

  int64_t numel() const;          // product of shape; 1 for a scalar
  std::size_t item_size() const;  // bytes per element (4 * string_length for Unicode)
};

// Reads a whole .npy file. Big-endian data is byte-swapped and Fortran-order data reordered, so the result is
// always little-endian C order. Throws spml::Error naming the path and the problem.
NpyArray read_npy(const std::string& path);

// Same as read_npy for bytes already in memory; name_for_errors stands in for the path in messages.
NpyArray parse_npy(const std::vector<uint8_t>& bytes, const std::string& name_for_errors);

// Writes like np.save (version 1.0, or 2.0 when the header exceeds 65535 bytes; little-endian, C order, data at a
// multiple of 64 bytes). Atomic: writes path + ".tmp" and renames it over path, so readers never see half a file.
void write_npy(const std::string& path, const NpyArray& array);

// The exact bytes write_npy puts in the file (byte-identical to NumPy's np.save for the same array).
std::vector<uint8_t> serialize_npy(const NpyArray& array);

// Unicode array -> one UTF-8 string per element in C order, trailing NULs stripped (as NumPy does on access).
std::vector<std::string> npy_strings(const NpyArray& array);

// UTF-8 strings -> Unicode array of the given shape (numel must equal utf8.size()). The width is the longest string
// in code points, at least 1 as in NumPy. Throws on invalid UTF-8.
NpyArray make_npy_strings(const std::vector<std::string>& utf8, const std::vector<int64_t>& shape);

// "float32", "int64", "bool", "unicode", ...
const char* npy_type_name(NpyType type);

}  // namespace spml::io
