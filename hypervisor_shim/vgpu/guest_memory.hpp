// Guest RAM as the device sees it: the DMA seam. The real implementation maps
// the memfd QEMU backs guest RAM with (spec §10.1); tests use a buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "addr.hpp"
#include "hix/abi/vgpu_proto.h"
#include "status.hpp"

namespace hix::vgpu {

class GuestMemory {
 public:
  virtual ~GuestMemory() = default;
  // [gpa, gpa+len) as host memory, when it lies inside one RAM region. The
  // guest may change it at any time: copy before checking anything in it.
  [[nodiscard]] virtual Result<std::span<std::byte>> map(GuestPhys gpa, std::uint64_t len) = 0;
  [[nodiscard]] Status read(GuestPhys gpa, std::span<std::byte> out);
  [[nodiscard]] Status write(GuestPhys gpa, std::span<const std::byte> in);
  // The host memory behind guest RAM, for a backend to pin (Backend::pin_host).
  virtual std::vector<std::span<std::byte>> host_ranges() { return {}; }
};

// Guest RAM made of regions of host memory. A range must lie in one region.
class RegionGuestMemory : public GuestMemory {
 public:
  struct Region {
    GuestPhys gpa;
    std::uint64_t size;
    std::byte* host;
  };
  [[nodiscard]] Result<std::span<std::byte>> map(GuestPhys gpa, std::uint64_t len) override;
  std::vector<std::span<std::byte>> host_ranges() override;

 protected:
  std::vector<Region> regions_;
};

// Test and benchmark double: one region of zeroed memory at `base`.
class BufferGuestMemory final : public RegionGuestMemory {
 public:
  BufferGuestMemory(GuestPhys base, std::uint64_t size);
  std::span<std::byte> bytes() { return storage_; }
  GuestPhys base() const { return regions_.front().gpa; }

 private:
  std::vector<std::byte> storage_;
};

// The memfd backing guest RAM, mapped shared (MAP_SHARED), one mapping per
// region of the frontend's table.
class MemfdGuestMemory final : public RegionGuestMemory {
 public:
  // Checks the table (page-aligned offsets, no overlaps, inside the file) and
  // maps it. Does not take ownership of fd.
  static Result<std::unique_ptr<MemfdGuestMemory>> map_fd(
      int fd, std::span<const hix_vgpu_ram_region> table);
  ~MemfdGuestMemory() override;
  MemfdGuestMemory(const MemfdGuestMemory&) = delete;
  MemfdGuestMemory& operator=(const MemfdGuestMemory&) = delete;

 private:
  MemfdGuestMemory() = default;
  struct Mapping {
    void* addr;
    std::size_t len;
  };
  std::vector<Mapping> mappings_;
};

}  // namespace hix::vgpu
