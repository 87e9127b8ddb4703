// DMA engine checks: guest RAM only, never the deny map (EPC).
#include "dma.hpp"

#include "counter.hpp"

namespace hix::vgpu {

bool DmaEngine::allowed(GuestPhys gpa, std::uint64_t len) {
  std::uint64_t end = 0;
  if (mem_ == nullptr || len == 0 || !checked_add(gpa.value, len, end)) return false;
  for (const auto& d : deny_) {
    std::uint64_t deny_end = 0;
    if (!checked_add(d.gpa.value, d.size, deny_end)) deny_end = UINT64_MAX;
    if (gpa.value < deny_end && d.gpa.value < end) return false;
  }
  return mem_->map(gpa, len).ok();
}

void DmaEngine::count_denied() {
  saturating_increment(denied_);
}

Result<std::span<std::byte>> DmaEngine::map(GuestPhys gpa, std::uint64_t len) {
  if (!allowed(gpa, len)) {
    count_denied();
    return Status::dma_denied;
  }
  return mem_->map(gpa, len);
}

Status DmaEngine::read(GuestPhys gpa, std::span<std::byte> out) {
  if (!allowed(gpa, out.size())) {
    count_denied();
    return Status::dma_denied;
  }
  return mem_->read(gpa, out);
}

Status DmaEngine::write(GuestPhys gpa, std::span<const std::byte> in) {
  if (!allowed(gpa, in.size())) {
    count_denied();
    return Status::dma_denied;
  }
  return mem_->write(gpa, in);
}

}  // namespace hix::vgpu
