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

// 32-bit registers of BAR0, from the ABI's register list.
enum class Reg32 : std::uint32_t {
#define HIX_GPU_REG32_ROW(NAME, name, offset, access, reset, home) name = HIX_GPU_REG_##NAME,
  HIX_GPU_REGISTERS(HIX_GPU_REG32_ROW)
#undef HIX_GPU_REG32_ROW
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
inline constexpr std::uint32_t kCapsValue = HIX_GPU_CAPS_VALUE;

namespace status {
inline constexpr std::uint32_t ready = HIX_GPU_STATUS_READY;
inline constexpr std::uint32_t locked = HIX_GPU_STATUS_LOCKED;
inline constexpr std::uint32_t error = HIX_GPU_STATUS_ERROR;
inline constexpr std::uint32_t protected_mode = HIX_GPU_STATUS_PROTECTED;
inline constexpr std::uint32_t ring = HIX_GPU_STATUS_RING;
inline constexpr std::uint32_t busy = HIX_GPU_STATUS_BUSY;
}  // namespace status

// RO: writes refused. RW: reads return the last write. WO: writes take
// effect, reads return 0 (keys and commands cannot be read back).
enum class Access : std::uint8_t { ro, rw, wo };

// One row of the spec's register table.
// Where a register is served: by the QEMU frontend itself (revision 1.0,
// also without a device server) or by the device server.
enum class Home : std::uint8_t { frontend, server };

struct RegisterDesc {
  Reg32 reg;
  std::string_view name;
  Access access;
  std::uint32_t reset;
  Home home;
};

// The register file, from the ABI's register list. Not listed = reserved
// (reads 0, writes refused).
inline constexpr std::array kRegisters{
#define HIX_GPU_REG_DESC_ROW(NAME, name, offset, access, reset, home) \
  RegisterDesc{Reg32::name, #NAME, Access::access, reset, Home::home},
    HIX_GPU_REGISTERS(HIX_GPU_REG_DESC_ROW)
#undef HIX_GPU_REG_DESC_ROW
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
