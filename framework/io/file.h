// Whole-file reads and atomic writes (temp file in the same folder + fsync + rename), so a crash never leaves a
// half-written checkpoint, result or data file under its final name, and a failed write (disk full, file too
// large, I/O error) leaves the previous file as it was.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace spml::io {

// Throws spml::Error naming the path when the file cannot be opened or read.
std::vector<uint8_t> read_file(const std::string& path);
std::string read_text_file(const std::string& path);

// Writes `path` + ".tmp.<pid>", fsyncs and closes it, renames it over `path` and fsyncs the folder (best effort).
// Every write, fsync, close and rename is checked: a failure throws spml::Error naming `path`, the step and the
// cause (strerror: "No space left on device", "File too large", ...), after removing the temp file; `path`
// keeps its previous contents (or stays absent). Fault point write:<file name> (framework/core/fault_injection.h).
void write_file_atomic(const std::string& path, const void* data, std::size_t bytes);
inline void write_file_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, text.data(), text.size());
}

// Removes the temp files ("<name>.tmp.<pid>") in `dir` that write_file_atomic calls of processes no longer running
// left behind (a process killed mid-write); returns their paths. Files of live processes are left alone.
std::vector<std::string> remove_stale_temp_files(const std::string& dir);

}  // namespace spml::io
