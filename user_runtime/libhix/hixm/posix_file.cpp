// Whole-buffer positional I/O for the .hixm reader and writer.
#include "posix_file.hpp"

#include <unistd.h>

#include <cerrno>

namespace hix::hixm {

PosixFile& PosixFile::operator=(PosixFile&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

PosixFile::~PosixFile() {
  close();
}

bool PosixFile::close() {
  if (fd_ < 0) return true;
  const int r = ::close(fd_);
  fd_ = -1;
  return r == 0;
}

bool PosixFile::pread_all(std::span<std::uint8_t> out, std::uint64_t offset) const {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n =
        ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

bool PosixFile::pwrite_all(std::span<const std::uint8_t> in, std::uint64_t offset) const {
  std::size_t done = 0;
  while (done < in.size()) {
    const ssize_t n =
        ::pwrite(fd_, in.data() + done, in.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace hix::hixm
