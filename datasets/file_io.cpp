// POSIX file reads and atomic writes for the dataset module: errno becomes part of the IoError.
#include "datasets/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"

namespace kdcu {
namespace datasets {
namespace {

std::string with_hint(const std::string& msg, const std::string& hint) {
  return hint.empty() ? msg : msg + "; " + hint;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::vector<std::uint8_t> read_file(const std::string& path, const std::string& hint) {
  Fd f;
  // O_NONBLOCK: opening a FIFO must not hang waiting for a writer (fstat then rejects it).
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (f.fd < 0) {
    const int err = errno;
    if (err == ENOENT) throw IoError(with_hint(cat(path, ": no such file"), hint));
    throw IoError(cat("cannot open ", path, ": ", std::strerror(err)));
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) throw IoError(cat("cannot stat ", path, ": ", std::strerror(errno)));
  require<IoError>(!S_ISDIR(st.st_mode), path, ": expected a file, found a directory");
  require<IoError>(S_ISREG(st.st_mode), path, ": expected a regular file, found a special file");
  std::vector<std::uint8_t> bytes(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(f.fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw IoError(cat("cannot read ", path, ": ", std::strerror(errno)));
    if (n == 0)
      throw IoError(cat(path, ": the file shrank while it was read (", done, " of ", bytes.size(), " bytes)"));
    done += static_cast<size_t>(n);
  }
  return bytes;
}

void require_directory(const std::string& dir, const std::string& what, const std::string& hint) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) throw IoError(with_hint(cat(what, ": directory ", dir, " does not exist"), hint));
    throw IoError(cat(what, ": cannot open directory ", dir, ": ", std::strerror(err)));
  }
  require<IoError>(S_ISDIR(st.st_mode), what, ": ", dir, " is not a directory");
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void write_file_atomic(const std::string& path, const void* bytes, size_t size) {
  static std::atomic<unsigned> counter{0};
  const std::string tmp = cat(path, ".tmp.", ::getpid(), ".", counter++);
  Fd f;
  f.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (f.fd < 0) throw IoError(cat("cannot write ", path, ": ", std::strerror(errno)));
  const auto* p = static_cast<const std::uint8_t*>(bytes);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(f.fd, p + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      throw IoError(cat("cannot write ", path, ": ", std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(f.fd) == 0;
  const int close_rc = ::close(f.fd);
  f.fd = -1;
  if (!synced || close_rc != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw IoError(cat("cannot write ", path, ": ", std::strerror(err)));
  }
}

}  // namespace datasets
}  // namespace kdcu
