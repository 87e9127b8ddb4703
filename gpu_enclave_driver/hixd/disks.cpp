// The disks LOAD reads (disks.hpp).
#include "disks.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace hix::hixd {
namespace {

constexpr std::uint64_t kPage = 4096;

std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

Disks::~Disks() {
  for (const Disk& d : disks_) {
    if (d.fd >= 0) ::close(d.fd);
  }
}

void Disks::add(const std::string& path) {
  Disk d;
  d.path = path;
  d.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
  d.direct = d.fd >= 0;
  if (d.fd < 0 && errno == EINVAL) d.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (d.fd >= 0) {
    struct stat st {};
    std::uint64_t size = 0;
    if (::fstat(d.fd, &st) == 0 && S_ISBLK(st.st_mode)) {
      if (::ioctl(d.fd, BLKGETSIZE64, &size) != 0) size = 0;
    } else if (::fstat(d.fd, &st) == 0) {
      size = static_cast<std::uint64_t>(st.st_size);
    }
    d.bytes = size;
  }
  disks_.push_back(std::move(d));
}

void Disks::scan_virtio() {
  std::vector<std::string> present;
  std::size_t last = 0;
  for (std::size_t i = 0; i < HIX_INFO_MAX_DISKS; ++i) {
    const std::string path = std::string("/dev/vd") + static_cast<char>('a' + i);
    present.push_back(path);
    if (::access(path.c_str(), R_OK) == 0) last = i + 1;
  }
  for (std::size_t i = 0; i < last; ++i) add(present[i]);
}

void Disks::open_paths(std::span<const std::string> paths) {
  for (const std::string& p : paths) add(p);
}

DiskRead Disks::read(std::uint32_t index, std::uint64_t disk_offset, std::uint64_t len,
                     std::span<std::uint8_t> dst) const {
  DiskRead r;
  if (index >= disks_.size() || disks_[index].fd < 0) {
    r.status = HIX_SESSION_OUT_OF_RANGE;
    r.why = "no disk " + std::to_string(index);
    return r;
  }
  const Disk& d = disks_[index];
  const std::uint64_t padded = (len + kPage - 1) / kPage * kPage;
  if (len == 0 || disk_offset % kPage != 0 || disk_offset > d.bytes ||
      len > d.bytes - disk_offset || (len % kPage != 0 && disk_offset + len != d.bytes) ||
      dst.size() < padded) {
    r.status = HIX_SESSION_OUT_OF_RANGE;
    r.why = "disk range [" + std::to_string(disk_offset) + ", +" + std::to_string(len) +
            ") outside " + d.path + " (" + std::to_string(d.bytes) + " bytes) or not page-aligned";
    return r;
  }
  const std::uint64_t start = now_ns();
  std::uint64_t got = 0;
  while (got < len) {
    // One pread per 64 MiB at most: the daemon's loop is blocked meanwhile.
    const std::uint64_t chunk = std::min<std::uint64_t>(padded - got, std::uint64_t{64} << 20);
    const ssize_t n = ::pread(d.fd, dst.data() + got, chunk, static_cast<off_t>(disk_offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      r.status = HIX_SESSION_IO_ERROR;
      r.why = "read of " + d.path + " at " + std::to_string(disk_offset + got) + ": " +
              (n < 0 ? std::strerror(errno) : "end of disk");
      return r;
    }
    got += static_cast<std::uint64_t>(n);
  }
  r.bytes = len;
  r.nanoseconds = now_ns() - start;
  return r;
}

}  // namespace hix::hixd
