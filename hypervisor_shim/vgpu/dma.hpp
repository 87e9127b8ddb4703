// The device's DMA engine: every access to guest memory (ring entries,
// command buffers, tensors) goes through here, is checked against the deny
// map QEMU pushes (EPC pages, spec §10.3) and is counted when refused.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "addr.hpp"
#include "guest_memory.hpp"
#include "status.hpp"

namespace hix::vgpu {

struct DenyRange {
  GuestPhys gpa;
  std::uint64_t size;
};

class DmaEngine {
 public:
  void attach(std::unique_ptr<GuestMemory> mem) { mem_ = std::move(mem); }
  bool attached() const { return mem_ != nullptr; }
  GuestMemory* memory() { return mem_.get(); }
  void set_deny(std::vector<DenyRange> ranges) { deny_ = std::move(ranges); }

  // true when [gpa, gpa+len) is guest RAM and touches no deny range. Does
  // not count: callers that refuse a request call count_denied().
  bool allowed(GuestPhys gpa, std::uint64_t len);

  // Copies; a refused request is counted and touches nothing.
  [[nodiscard]] Status read(GuestPhys gpa, std::span<std::byte> out);
  [[nodiscard]] Status write(GuestPhys gpa, std::span<const std::byte> in);
  // Direct view for a plain copy; same checks and counting as read().
  [[nodiscard]] Result<std::span<std::byte>> map(GuestPhys gpa, std::uint64_t len);

  void count_denied();
  std::uint32_t denied() const { return denied_.load(std::memory_order_relaxed); }
  void reset_counter() { denied_.store(0, std::memory_order_relaxed); }

 private:
  std::unique_ptr<GuestMemory> mem_;
  std::vector<DenyRange> deny_;
  std::atomic<std::uint32_t> denied_{0};
};

}  // namespace hix::vgpu
