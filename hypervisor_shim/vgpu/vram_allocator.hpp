// VRAM allocator: first fit over a coalescing free list, 256-byte granules
// (spec §4). It hands out offsets only; the backend owns the memory.
#pragma once

#include <cstdint>
#include <map>

#include "addr.hpp"
#include "status.hpp"

namespace hix::vgpu {

class VramAllocator {
 public:
  static constexpr std::uint64_t kGranule = 256;

  explicit VramAllocator(std::uint64_t size);
  // The footprint of a buffer of `bytes` (rounded up to the granule).
  static std::uint64_t footprint(std::uint64_t bytes);
  [[nodiscard]] Result<VramOffset> allocate(std::uint64_t bytes);
  // Returns a range obtained from allocate() with the same size.
  void release(VramOffset offset, std::uint64_t bytes);
  void reset();
  std::uint64_t size() const { return size_; }
  std::uint64_t free_bytes() const { return free_bytes_; }
  std::size_t free_ranges() const { return free_.size(); }

 private:
  std::uint64_t size_;
  std::uint64_t free_bytes_ = 0;
  std::map<std::uint64_t, std::uint64_t> free_;  // offset -> length
};

}  // namespace hix::vgpu
