// A register of a BAR0 mapped into this process: the one volatile 32-bit
// access every user of a mapped hix-gpu makes (hix-probe, hixd's plain mode,
// the lockdown attackers).
#pragma once

#include <cstdint>

#include "hix/gpu/regs.hpp"

namespace hix::gpu {

// volatile: every access reaches the device, in program order.
inline volatile std::uint32_t* bar0_slot(void* bar0, Reg32 reg) {
  // reinterpret_cast: the mapping is device memory laid out by the spec.
  return reinterpret_cast<volatile std::uint32_t*>(static_cast<char*>(bar0) + offset_of(reg).value);
}

inline std::uint32_t bar0_read(void* bar0, Reg32 reg) {
  return *bar0_slot(bar0, reg);
}

inline void bar0_write(void* bar0, Reg32 reg, std::uint32_t value) {
  *bar0_slot(bar0, reg) = value;
}

}  // namespace hix::gpu
