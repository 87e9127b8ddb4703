// Shared by the guest self-test programs of tests/kmod: the one-line
// key=value report the VM tests parse, and /dev/hix-attack.
#pragma once

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hix_attack_abi.h"

namespace hix::kmodtest {

inline constexpr std::size_t kPage = 4096;

inline std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

// The key=value pairs of the one output line, in order.
class Report {
 public:
  explicit Report(std::string_view tag) : line_(tag) {}

  void add(std::string_view key, std::string_view value) {
    line_ += ' ';
    line_ += key;
    line_ += '=';
    line_ += value;
  }
  // A check: key=ok or key=bad.
  bool check(std::string_view key, bool ok) {
    add(key, ok ? "ok" : "bad");
    if (!ok) failed_ = true;
    return ok;
  }
  void fail() { failed_ = true; }
  // Prints the line; the exit status: 0 when every check passed.
  int finish() {
    add("result", failed_ ? "fail" : "pass");
    std::printf("%s\n", line_.c_str());
    std::fflush(stdout);
    return failed_ ? 1 : 0;
  }

 private:
  std::string line_;
  bool failed_ = false;
};

// An open device file; ioctls return 0 or the errno.
class Device {
 public:
  explicit Device(const char* path) : fd_(::open(path, O_RDWR | O_CLOEXEC)) {}
  ~Device() { close(); }
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  bool is_open() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  template <typename Arg>
  int call(unsigned long request, Arg* arg) const {
    return ::ioctl(fd_, request, arg) == 0 ? 0 : errno;
  }
  int call(unsigned long request) const { return ::ioctl(fd_, request, 0) == 0 ? 0 : errno; }

 private:
  int fd_;
};

inline bool all_equal(const std::vector<std::uint8_t>& bytes, std::uint8_t value) {
  for (std::uint8_t b : bytes) {
    if (b != value) return false;
  }
  return true;
}

// A page of physical memory read through /dev/hix-attack.
inline std::optional<std::vector<std::uint8_t>> read_phys(const Device& attack,
                                                          unsigned long request,
                                                          std::uint64_t phys) {
  std::vector<std::uint8_t> buf(kPage);
  hix_attack_phys_rw rw{};
  rw.phys = phys;
  rw.len = kPage;
  rw.user_buf = reinterpret_cast<std::uintptr_t>(buf.data());  // the ABI's integer address
  if (attack.call(request, &rw) != 0) return std::nullopt;
  return buf;
}

// The frame the caller's page tables map vaddr to, through /dev/hix-attack.
inline std::optional<std::uint64_t> virt_to_phys(const Device& attack, std::uint64_t vaddr) {
  hix_attack_virt_to_phys req{};
  req.vaddr = vaddr;
  if (attack.call(HIX_ATTACK_VIRT_TO_PHYS, &req) != 0) return std::nullopt;
  return req.phys;
}

}  // namespace hix::kmodtest
