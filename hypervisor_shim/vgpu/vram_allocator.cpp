// VRAM allocator (spec §4).
#include "vram_allocator.hpp"

#include <iterator>

namespace hix::vgpu {

VramAllocator::VramAllocator(std::uint64_t size) : size_(size / kGranule * kGranule) {
  reset();
}

void VramAllocator::reset() {
  free_.clear();
  free_bytes_ = size_;
  if (size_ > 0) free_.emplace(0, size_);
}

std::uint64_t VramAllocator::footprint(std::uint64_t bytes) {
  if (bytes > UINT64_MAX - (kGranule - 1)) return 0;
  return (bytes + kGranule - 1) / kGranule * kGranule;
}

Result<VramOffset> VramAllocator::allocate(std::uint64_t bytes) {
  const std::uint64_t need = footprint(bytes);
  if (bytes == 0 || need == 0) return Status::invalid_arg;
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < need) continue;
    const std::uint64_t off = it->first;
    const std::uint64_t rest = it->second - need;
    free_.erase(it);
    if (rest > 0) free_.emplace(off + need, rest);
    free_bytes_ -= need;
    return VramOffset{off};
  }
  return Status::no_memory;
}

void VramAllocator::release(VramOffset offset, std::uint64_t bytes) {
  std::uint64_t off = offset.value;
  std::uint64_t len = footprint(bytes);
  free_bytes_ += len;
  auto next = free_.lower_bound(off);
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == off) {
      off = prev->first;
      len += prev->second;
      free_.erase(prev);
    }
  }
  if (next != free_.end() && off + len == next->first) {
    len += next->second;
    free_.erase(next);
  }
  free_.emplace(off, len);
}

}  // namespace hix::vgpu
