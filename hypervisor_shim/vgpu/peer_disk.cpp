// Peer disks (spec hix-gpu §7.4).
#include "peer_disk.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <thread>
#include <utility>

#include <linux/fs.h>

namespace hix::vgpu {
namespace {

// Reads of at least this many bytes are split across threads: one thread
// copies from the page cache at a few GB/s, which would bound a model load.
constexpr std::uint64_t kParallelReadBytes = std::uint64_t{64} << 20;
constexpr unsigned kMaxReadThreads = 8;

// pread until `out` is full; false on an error or end of file.
bool read_all(int fd, std::uint64_t offset, std::span<std::byte> out, int& err) {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n =
        ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : 0;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

PeerDisks::~PeerDisks() {
  close_all();
}

PeerDisks::PeerDisks(PeerDisks&& other) noexcept : disks_(std::exchange(other.disks_, {})) {}

PeerDisks& PeerDisks::operator=(PeerDisks&& other) noexcept {
  if (this != &other) {
    close_all();
    disks_ = std::exchange(other.disks_, {});
  }
  return *this;
}

void PeerDisks::close_all() {
  for (const Disk& d : disks_) ::close(d.fd);
  disks_.clear();
}

bool PeerDisks::add(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  std::uint64_t size = 0;
  bool ok = ::fstat(fd, &st) == 0;
  if (ok && S_ISREG(st.st_mode)) {
    size = static_cast<std::uint64_t>(st.st_size);
  } else if (ok && S_ISBLK(st.st_mode)) {
    ok = ::ioctl(fd, BLKGETSIZE64, &size) == 0;
  } else if (ok) {
    errno = EINVAL;
    ok = false;
  }
  if (!ok) {
    const int e = errno;
    ::close(fd);
    errno = e;
    return false;
  }
  // A model is read once, front to back.
  static_cast<void>(::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL));
  disks_.push_back(Disk{fd, size});
  return true;
}

bool PeerDisks::holds(std::uint32_t disk, std::uint64_t offset, std::uint64_t len) const {
  if (disk >= disks_.size()) return false;
  const std::uint64_t size = disks_[disk].size;
  return offset <= size && len <= size - offset;
}

Status PeerDisks::read(std::uint32_t disk, std::uint64_t offset, std::span<std::byte> out) const {
  if (!holds(disk, offset, out.size())) return Status::dma_denied;
  const int fd = disks_[disk].fd;
  int err = 0;
  if (out.size() < kParallelReadBytes) {
    if (read_all(fd, offset, out, err)) return Status::ok;
    return err == 0 ? Status::dma_denied : Status::internal;
  }
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const unsigned threads = std::min(kMaxReadThreads, hw);
  const std::uint64_t per = (out.size() + threads - 1) / threads;
  std::atomic<int> short_reads{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (unsigned t = 0; t < threads; ++t) {
    const std::uint64_t begin = std::min<std::uint64_t>(out.size(), t * per);
    const std::uint64_t end = std::min<std::uint64_t>(out.size(), begin + per);
    if (begin == end) break;
    pool.emplace_back([&, begin, end] {
      int e = 0;
      if (!read_all(fd, offset + begin, out.subspan(begin, end - begin), e)) {
        (e == 0 ? short_reads : errors).fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (std::thread& th : pool) th.join();
  if (errors.load() != 0) return Status::internal;
  return short_reads.load() != 0 ? Status::dma_denied : Status::ok;
}

}  // namespace hix::vgpu
