// Peer disks (spec hix-gpu §7.4): read-only files the device reads itself,
// as a GPU reads NVMe blocks with GPUDirect Storage, so a model's sealed
// bytes never cross guest memory. Untrusted storage: what comes from here is
// authenticated by the crypto engine like anything from guest memory.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "status.hpp"

namespace hix::vgpu {

// Where on which disk a read starts.
struct PeerAt {
  std::uint32_t disk = 0;
  std::uint64_t offset = 0;
};

class PeerDisks {
 public:
  PeerDisks() = default;
  ~PeerDisks();
  PeerDisks(const PeerDisks&) = delete;
  PeerDisks& operator=(const PeerDisks&) = delete;
  PeerDisks(PeerDisks&& other) noexcept;
  PeerDisks& operator=(PeerDisks&& other) noexcept;

  // Opens `path` read-only as the next disk; false (errno set) when it
  // cannot be opened or is not a regular file or block device.
  [[nodiscard]] bool add(const std::string& path);
  std::size_t count() const { return disks_.size(); }

  // true when disk `disk` exists and holds [offset, offset + len).
  bool holds(std::uint32_t disk, std::uint64_t offset, std::uint64_t len) const;
  // Reads [offset, offset + out.size()) of disk `disk` (large reads in
  // parallel). dma_denied when the disk or the range does not exist (also
  // when the file shrank underneath: a short read), internal when the
  // read fails (EIO). Does not count refusals: the caller does.
  [[nodiscard]] Status read(std::uint32_t disk, std::uint64_t offset,
                            std::span<std::byte> out) const;

 private:
  struct Disk {
    int fd = -1;
    std::uint64_t size = 0;
  };
  void close_all();
  std::vector<Disk> disks_;
};

}  // namespace hix::vgpu
