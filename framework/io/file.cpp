// File helpers: whole-file reads, atomic (temp + fsync + rename) writes with every step checked, and the removal of
// temp files that killed writers left behind.
#include "framework/io/file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "framework/core/fault_injection.h"
#include "kernels/common/error.h"

namespace spml::io {
namespace {

namespace fs = std::filesystem;

constexpr const char* kTempInfix = ".tmp.";

// Writes all of [p, p + n) to fd; 0, or the errno of the failing write.
int write_all(int fd, const char* p, std::size_t n, std::size_t& written) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno;
    if (w == 0) return EIO;  // a regular file never legitimately accepts nothing
    p += w;
    n -= std::size_t(w);
    written += std::size_t(w);
  }
  return 0;
}

// The pid of a temp file name "<name>.tmp.<pid>", or -1 when the name is not one.
long temp_file_pid(const std::string& name) {
  const std::size_t at = name.rfind(kTempInfix);
  if (at == std::string::npos || at == 0) return -1;
  const std::string digits = name.substr(at + std::strlen(kTempInfix));
  if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stol(digits);
}

}  // namespace

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
  const std::string tmp = path + kTempInfix + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const auto fail = [&](const std::string& what, int err) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    std::error_code ec;
    SPML_FAIL(path, ": ", what, " (", std::strerror(err), "); ",
              fs::exists(path, ec) ? "the file keeps its previous contents" : "the file was not written");
  };
  if (fd < 0) fail("cannot create the temporary file " + tmp, errno);

  const char* p = static_cast<const char*>(data);
  const std::size_t half = bytes / 2;
  std::size_t written = 0;
  int err = write_all(fd, p, half, written);
  // Mid-file, before fsync and rename: where a killed or failing write hurts most (fault_injection.h).
  if (err == 0 && fault::enabled()) {
    const fault::Action action = fault::at("write:" + fs::path(path).filename().string());
    if (fault::error_number(action) != 0) err = fault::error_number(action);
  }
  if (err == 0) err = write_all(fd, p + half, bytes - half, written);
  if (err != 0)
    fail("write failed after " + std::to_string(written) + " of " + std::to_string(bytes) + " bytes to " + tmp, err);
  if (::fsync(fd) != 0) fail("fsync of " + tmp + " failed", errno);
  const int closed = ::close(fd);
  fd = -1;
  if (closed != 0) fail("closing " + tmp + " failed", errno);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename " + tmp + " over it", errno);
  // The rename is durable once the folder is synced; a file system that cannot sync folders still has the file.
  const std::string folder = fs::path(path).has_parent_path() ? fs::path(path).parent_path().string() : ".";
  const int dir_fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

std::vector<std::string> remove_stale_temp_files(const std::string& dir) {
  std::vector<std::string> removed;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const long pid = temp_file_pid(name);
    if (pid <= 0 || pid == long(::getpid())) continue;
    if (::kill(pid_t(pid), 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to signal): in use
    std::error_code remove_error;
    if (fs::remove(entry.path(), remove_error)) removed.push_back(entry.path().string());
  }
  return removed;
}

}  // namespace spml::io
