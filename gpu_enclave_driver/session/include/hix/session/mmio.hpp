// The BAR0 seam (STYLE §10): 32-bit accesses to hix-gpu registers
// (docs/specs/hix-gpu.md §2). The enclave reaches BAR0 through its GLRANGE,
// hixd's plain mode through a sysfs mapping, the tests call the device model.
#pragma once

#include <cstdint>

#include "hix/gpu/regs.hpp"

namespace hix::session {

class Mmio {
 public:
  virtual ~Mmio() = default;
  // Exactly one aligned 32-bit access each (the device refuses any other width).
  virtual std::uint32_t read32(gpu::Reg32 reg) = 0;
  virtual void write32(gpu::Reg32 reg, std::uint32_t value) = 0;

 protected:
  Mmio() = default;
  Mmio(const Mmio&) = default;
  Mmio& operator=(const Mmio&) = default;
};

}  // namespace hix::session
