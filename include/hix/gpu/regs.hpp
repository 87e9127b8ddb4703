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
  id = HIX_GPU_REG_ID,                              // identification, kIdValue
  version = HIX_GPU_REG_VERSION,                    // register-map revision
  status = HIX_GPU_REG_STATUS,                      // Status bits
  scratch = HIX_GPU_REG_SCRATCH,                    // free for software
  badacc = HIX_GPU_REG_BADACC,                      // refused accesses since reset
  caps = HIX_GPU_REG_CAPS,                          // device limits
  cmd = HIX_GPU_REG_CMD,                            // admin opcode (write-only)
  cmd_status = HIX_GPU_REG_CMD_STATUS,              // status of the last admin command
  result0 = HIX_GPU_REG_RESULT0,                    // admin result word 0
  result1 = HIX_GPU_REG_RESULT1,                    // admin result word 1
  arg0 = HIX_GPU_REG_ARG0,                          // admin argument 0
  arg1 = HIX_GPU_REG_ARG1,                          // admin argument 1
  arg2 = HIX_GPU_REG_ARG2,                          // admin argument 2
  arg3 = HIX_GPU_REG_ARG3,                          // admin argument 3
  key0 = HIX_GPU_REG_KEY0,                          // key window, bytes 0..3
  key1 = HIX_GPU_REG_KEY1,                          // key window, bytes 4..7
  key2 = HIX_GPU_REG_KEY2,                          // key window, bytes 8..11
  key3 = HIX_GPU_REG_KEY3,                          // key window, bytes 12..15
  key4 = HIX_GPU_REG_KEY4,                          // key window, bytes 16..19
  key5 = HIX_GPU_REG_KEY5,                          // key window, bytes 20..23
  key6 = HIX_GPU_REG_KEY6,                          // key window, bytes 24..27
  key7 = HIX_GPU_REG_KEY7,                          // key window, bytes 28..31
  ring_base_lo = HIX_GPU_REG_RING_BASE_LO,          // ring base, guest-physical, low
  ring_base_hi = HIX_GPU_REG_RING_BASE_HI,          // ring base, high
  ring_size = HIX_GPU_REG_RING_SIZE,                // ring entries
  doorbell = HIX_GPU_REG_DOORBELL,                  // producer index (write-only)
  ring_head = HIX_GPU_REG_RING_HEAD,                // consumer index
  ring_seq = HIX_GPU_REG_RING_SEQ,                  // next expected sequence number
  fence = HIX_GPU_REG_FENCE,                        // fence of the last completed entry
  exec_errors = HIX_GPU_REG_EXEC_ERRORS,            // failed command buffers
  last_error = HIX_GPU_REG_LAST_ERROR,              // status | op index << 16
  last_error_fence = HIX_GPU_REG_LAST_ERROR_FENCE,  // fence of the last failure
  ring_forged = HIX_GPU_REG_RING_FORGED,            // entries with a bad tag
  ring_replayed = HIX_GPU_REG_RING_REPLAYED,        // entries with an old sequence number
  ring_reordered = HIX_GPU_REG_RING_REORDERED,      // entries with a future sequence number
  ring_malformed = HIX_GPU_REG_RING_MALFORMED,      // malformed entries and doorbells
  dma_denied = HIX_GPU_REG_DMA_DENIED,              // refused DMA requests
  auth_failures = HIX_GPU_REG_AUTH_FAILURES,        // sealed chunks that failed to open
  cmd_rejects = HIX_GPU_REG_CMD_REJECTS,            // failed admin commands
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
    RegisterDesc{Reg32::caps, "CAPS", Access::ro, kCapsValue},
    RegisterDesc{Reg32::cmd, "CMD", Access::wo, 0},
    RegisterDesc{Reg32::cmd_status, "CMD_STATUS", Access::ro, 0},
    RegisterDesc{Reg32::result0, "RESULT0", Access::ro, 0},
    RegisterDesc{Reg32::result1, "RESULT1", Access::ro, 0},
    RegisterDesc{Reg32::arg0, "ARG0", Access::rw, 0},
    RegisterDesc{Reg32::arg1, "ARG1", Access::rw, 0},
    RegisterDesc{Reg32::arg2, "ARG2", Access::rw, 0},
    RegisterDesc{Reg32::arg3, "ARG3", Access::rw, 0},
    RegisterDesc{Reg32::key0, "KEY0", Access::wo, 0},
    RegisterDesc{Reg32::key1, "KEY1", Access::wo, 0},
    RegisterDesc{Reg32::key2, "KEY2", Access::wo, 0},
    RegisterDesc{Reg32::key3, "KEY3", Access::wo, 0},
    RegisterDesc{Reg32::key4, "KEY4", Access::wo, 0},
    RegisterDesc{Reg32::key5, "KEY5", Access::wo, 0},
    RegisterDesc{Reg32::key6, "KEY6", Access::wo, 0},
    RegisterDesc{Reg32::key7, "KEY7", Access::wo, 0},
    RegisterDesc{Reg32::ring_base_lo, "RING_BASE_LO", Access::rw, 0},
    RegisterDesc{Reg32::ring_base_hi, "RING_BASE_HI", Access::rw, 0},
    RegisterDesc{Reg32::ring_size, "RING_SIZE", Access::rw, 0},
    RegisterDesc{Reg32::doorbell, "DOORBELL", Access::wo, 0},
    RegisterDesc{Reg32::ring_head, "RING_HEAD", Access::ro, 0},
    RegisterDesc{Reg32::ring_seq, "RING_SEQ", Access::ro, 1},
    RegisterDesc{Reg32::fence, "FENCE", Access::ro, 0},
    RegisterDesc{Reg32::exec_errors, "EXEC_ERRORS", Access::ro, 0},
    RegisterDesc{Reg32::last_error, "LAST_ERROR", Access::ro, 0},
    RegisterDesc{Reg32::last_error_fence, "LAST_ERROR_FENCE", Access::ro, 0},
    RegisterDesc{Reg32::ring_forged, "RING_FORGED", Access::ro, 0},
    RegisterDesc{Reg32::ring_replayed, "RING_REPLAYED", Access::ro, 0},
    RegisterDesc{Reg32::ring_reordered, "RING_REORDERED", Access::ro, 0},
    RegisterDesc{Reg32::ring_malformed, "RING_MALFORMED", Access::ro, 0},
    RegisterDesc{Reg32::dma_denied, "DMA_DENIED", Access::ro, 0},
    RegisterDesc{Reg32::auth_failures, "AUTH_FAILURES", Access::ro, 0},
    RegisterDesc{Reg32::cmd_rejects, "CMD_REJECTS", Access::ro, 0},
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
