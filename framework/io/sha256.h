// SHA-256 (FIPS 180-4) of bytes and files: the checksum of weight files in run records, comparable with sha256sum.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace spml::io {

// Lower-case hex digest (64 characters).
std::string sha256_hex(const void* data, std::size_t bytes);
// Streams the file; throws spml::Error naming the path when it cannot be read.
std::string sha256_file_hex(const std::string& path);

}  // namespace spml::io
