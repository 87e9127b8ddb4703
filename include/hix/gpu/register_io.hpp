// The MMIO seam for hix-gpu's BAR0: real (a mapped BAR) or fake (tests).
#pragma once

#include <cstdint>

#include "hix/gpu/regs.hpp"

namespace hix::gpu {

class RegisterIo {
 public:
  virtual ~RegisterIo() = default;
  virtual std::uint32_t read(Reg32 reg) = 0;
  virtual void write(Reg32 reg, std::uint32_t value) = 0;
};

}  // namespace hix::gpu
