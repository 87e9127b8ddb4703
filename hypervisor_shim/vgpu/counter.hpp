// Saturating event counters readable through BAR0 without taking the
// device's locks (spec §2: counters saturate at 2^32-1).
#pragma once

#include <atomic>
#include <cstdint>

namespace hix::vgpu {

inline void saturating_increment(std::atomic<std::uint32_t>& c) {
  std::uint32_t v = c.load(std::memory_order_relaxed);
  while (v != UINT32_MAX && !c.compare_exchange_weak(v, v + 1, std::memory_order_relaxed)) {
  }
}

}  // namespace hix::vgpu
