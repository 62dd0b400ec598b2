// Shared helpers of the libFuzzer targets: run a parser call and accept a clean error (spml::Error, or another
// std::exception that a parser reports), but let an allocation failure through as a crash (a missing cap), and split
// an input into sections at NUL bytes (for targets that read several files at once).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/common/error.h"

namespace spml::fuzz {

// Runs f(); a thrown spml::Error or std::exception is a clean rejection of the input. std::bad_alloc and
// std::length_error mean the parser tried to allocate what a header claimed: that is a bug, so abort (libFuzzer
// records the input as a crash).
template <class F>
bool accepts(F&& f) {
  try {
    f();
    return true;
  } catch (const std::bad_alloc& e) {
    std::fprintf(stderr, "fuzz: allocation failure (a missing size cap?): %s\n", e.what());
    std::abort();
  } catch (const std::length_error& e) {
    std::fprintf(stderr, "fuzz: std::length_error (a missing size cap?): %s\n", e.what());
    std::abort();
  } catch (const spml::Error&) {
    return false;
  } catch (const std::exception&) {
    return false;
  }
}

// A property of accepted input that must hold: abort with a message otherwise.
inline void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz: invariant violated: %s\n", what);
    std::abort();
  }
}

// The input as text, and split at NUL bytes into at most `max_parts` sections (the last one keeps any further NULs).
inline std::string as_text(const uint8_t* data, std::size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}
inline std::vector<std::string> split_sections(const std::string& text, std::size_t max_parts) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (parts.size() + 1 < max_parts) {
    const std::size_t nul = text.find('\0', start);
    if (nul == std::string::npos) break;
    parts.push_back(text.substr(start, nul - start));
    start = nul + 1;
  }
  parts.push_back(text.substr(start));
  return parts;
}

}  // namespace spml::fuzz
