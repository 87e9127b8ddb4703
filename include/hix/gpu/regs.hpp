// hix-gpu BAR0 register file, typed (docs/specs/hix-gpu.md §2).
//
// The numbers live once, in the C ABI header shared with the QEMU frontend;
// this header gives C++ code distinct types for registers and BAR offsets and
// the access-policy table the spec's register table is checked against.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "hix/abi/hix_gpu_regs.h"

namespace hix::gpu {

// An offset into BAR0. Distinct from guest-physical and guest-linear addresses.
struct BarOffset {
  std::uint32_t value;
  friend constexpr bool operator==(BarOffset, BarOffset) = default;
};

// 32-bit registers of BAR0.
enum class Reg32 : std::uint32_t {
  id = HIX_GPU_REG_ID,            // identification, kIdValue
  version = HIX_GPU_REG_VERSION,  // register-map revision
  status = HIX_GPU_REG_STATUS,    // Status bits
  scratch = HIX_GPU_REG_SCRATCH,  // free for software
  badacc = HIX_GPU_REG_BADACC,    // refused accesses since reset
};

constexpr BarOffset offset_of(Reg32 reg) {
  return BarOffset{static_cast<std::uint32_t>(reg)};
}

inline constexpr std::uint32_t kBar0Size = HIX_GPU_BAR0_SIZE;
inline constexpr std::uint16_t kVendorId = HIX_GPU_VENDOR_ID;
inline constexpr std::uint16_t kDeviceId = HIX_GPU_DEVICE_ID;
inline constexpr std::uint32_t kClassCode = HIX_GPU_CLASS_CODE;
inline constexpr std::uint32_t kIdValue = HIX_GPU_ID_VALUE;
inline constexpr std::uint32_t kVersionValue = HIX_GPU_VERSION_VALUE;
inline constexpr std::uint32_t kRefusedRead = HIX_GPU_REFUSED_READ;

namespace status {
inline constexpr std::uint32_t ready = HIX_GPU_STATUS_READY;
inline constexpr std::uint32_t locked = HIX_GPU_STATUS_LOCKED;
inline constexpr std::uint32_t error = HIX_GPU_STATUS_ERROR;
}  // namespace status

enum class Access : std::uint8_t { ro, rw };

// One row of the spec's register table.
struct RegisterDesc {
  Reg32 reg;
  std::string_view name;
  Access access;
  std::uint32_t reset;
};

// The register file. Not listed = reserved (reads 0, writes refused).
inline constexpr std::array kRegisters{
    RegisterDesc{Reg32::id, "ID", Access::ro, kIdValue},
    RegisterDesc{Reg32::version, "VERSION", Access::ro, kVersionValue},
    RegisterDesc{Reg32::status, "STATUS", Access::ro, status::ready},
    RegisterDesc{Reg32::scratch, "SCRATCH", Access::rw, 0},
    RegisterDesc{Reg32::badacc, "BADACC", Access::ro, 0},
};

constexpr bool registers_well_formed() {
  for (std::size_t i = 0; i < kRegisters.size(); ++i) {
    const auto off = offset_of(kRegisters[i].reg).value;
    if (off % 4 != 0 || off + 4 > kBar0Size) return false;
    if (i > 0 && off <= offset_of(kRegisters[i - 1].reg).value) return false;
  }
  return true;
}
static_assert(registers_well_formed(), "registers must be aligned, in BAR0 and sorted");
static_assert(kIdValue == 0x48495847u, "ID is ASCII HIXG (spec §2)");

// The table row for an offset, if that offset is a register.
constexpr std::optional<RegisterDesc> find_register(BarOffset off) {
  for (const auto& desc : kRegisters) {
    if (offset_of(desc.reg) == off) return desc;
  }
  return std::nullopt;
}

}  // namespace hix::gpu
