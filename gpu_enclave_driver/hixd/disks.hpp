// The disks LOAD reads (docs/specs/hix-session.md §6): /dev/vda, vdb, ...
// (run-vm --disk, read-only virtio-blk) opened with O_DIRECT, so a read
// lands in the staging window through the block device's DMA and no guest
// code copies the (sealed) bytes. Disk i of the protocol is the i-th path.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "hix/abi/hix_session.h"

namespace hix::hixd {

struct Disk {
  std::string path;
  int fd = -1;  // -1: absent (its size reads 0)
  std::uint64_t bytes = 0;
  bool direct = false;  // opened with O_DIRECT
};

// What one read did.
struct DiskRead {
  std::uint32_t status = HIX_SESSION_OK;  // OK, OUT_OF_RANGE or IO_ERROR
  std::uint64_t bytes = 0;
  std::uint64_t nanoseconds = 0;
  std::string why;  // for a failure
};

class Disks {
 public:
  Disks() = default;
  ~Disks();
  Disks(const Disks&) = delete;
  Disks& operator=(const Disks&) = delete;

  // /dev/vda.. /dev/vdh as present (a gap keeps its index, size 0).
  void scan_virtio();
  // Explicit paths, in order (hixd --disk; tests use regular files). A file
  // that does not take O_DIRECT (tmpfs) is opened without it.
  void open_paths(std::span<const std::string> paths);

  std::span<const Disk> disks() const { return disks_; }

  // LOAD (§6): bytes [disk_offset, disk_offset + len) of disk `index` into
  // `dst` (at least len rounded up to 4096 bytes: O_DIRECT reads whole
  // pages). disk_offset and `dst` page-aligned; len a multiple of 4096 or
  // ending at the disk's end.
  DiskRead read(std::uint32_t index, std::uint64_t disk_offset, std::uint64_t len,
                std::span<std::uint8_t> dst) const;

 private:
  void add(const std::string& path);
  std::vector<Disk> disks_;
};

}  // namespace hix::hixd
