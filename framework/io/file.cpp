// File helpers: whole-file reads and atomic (temp + fsync + rename) writes.
#include "framework/io/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "kernels/common/error.h"

namespace spml::io {

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SPML_CHECK(in.good(), path, ": cannot open for reading (", std::strerror(errno), ")");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  SPML_CHECK(!in.bad(), path, ": read error");
  return bytes;
}

std::string read_text_file(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  return std::string(bytes.begin(), bytes.end());
}

void write_file_atomic(const std::string& path, const void* data, std::size_t bytes) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  SPML_CHECK(fd >= 0, path, ": cannot create temporary file ", tmp, " (", std::strerror(errno), ")");
  const char* p = static_cast<const char*>(data);
  std::size_t left = bytes;
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      std::remove(tmp.c_str());
      SPML_FAIL(path, ": write failed after ", bytes - left, " of ", bytes, " bytes (", std::strerror(err), ")");
    }
    p += n;
    left -= std::size_t(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    SPML_FAIL(path, ": cannot replace with the new contents (", std::strerror(err), ")");
  }
}

}  // namespace spml::io
