// A file descriptor that closes itself, and whole-buffer pread/pwrite that
// retry on EINTR and short transfers (the .hixm reader and writer).
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace hix::hixm {

class PosixFile {
 public:
  PosixFile() = default;
  explicit PosixFile(int fd) : fd_(fd) {}
  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;
  PosixFile(PosixFile&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  PosixFile& operator=(PosixFile&& o) noexcept;
  ~PosixFile();

  int fd() const { return fd_; }
  bool is_open() const { return fd_ >= 0; }
  // Closes now; false (errno set) if close reported an error.
  bool close();

  // All of `out` from `offset`; false on an error or end of file.
  [[nodiscard]] bool pread_all(std::span<std::uint8_t> out, std::uint64_t offset) const;
  [[nodiscard]] bool pwrite_all(std::span<const std::uint8_t> in, std::uint64_t offset) const;

 private:
  int fd_ = -1;
};

}  // namespace hix::hixm
