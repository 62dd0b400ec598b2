// Whole-file reads and atomic writes (temp file in the same folder + rename), so a crash never leaves a
// half-written checkpoint, result or data file behind.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace spml::io {

// Throws spml::Error naming the path when the file cannot be opened or read.
std::vector<uint8_t> read_file(const std::string& path);
std::string read_text_file(const std::string& path);

// Writes `path` + ".tmp.<pid>", flushes it to disk and renames it over `path`.
void write_file_atomic(const std::string& path, const void* data, std::size_t bytes);
inline void write_file_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, text.data(), text.size());
}

}  // namespace spml::io
