// The hix-gpu driver inside the session core (docs/specs/hix-gpu.md §2, §4,
// §5): the BAR0 admin mailbox, the channel key, the ring and the submission
// of one command buffer at a time — encrypted and authenticated under the
// channel key (§5.2) in protected mode, plaintext in plain mode.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "hix/abi/hix_gpu_regs.h"
#include "hix/abi/vgpu_ring.h"
#include "hix/abi/vgpu_status.h"
#include "hix/session/addr.hpp"
#include "hix/session/mmio.hpp"
#include "hix/session/platform.hpp"
#include "hix/session/untrusted_memory.hpp"

namespace hix::session {

inline constexpr std::uint32_t kChannelKeyBytes = HIX_GPU_KEY_BYTES;

// An admin command's outcome: CMD_STATUS (enum hix_vgpu_status), RESULT0/1.
struct AdminResult {
  std::uint32_t status = HIX_VGPU_OK;
  std::uint32_t r0 = 0;
  std::uint32_t r1 = 0;
  bool ok() const { return status == HIX_VGPU_OK; }
};

// How a submitted command buffer ended.
struct SubmitOutcome {
  enum class Kind : std::uint8_t {
    completed,    // FENCE reached the entry's value; device_status tells how it ran
    rejected,     // the ring consumed the entry without running it (hixd changed it)
    unavailable,  // no ring or channel key, or the device did not consume it in time
    no_room,      // the command buffer does not fit the ring area
  };
  Kind kind = Kind::completed;
  std::uint32_t device_status = HIX_VGPU_OK;  // LAST_ERROR bits 15..0 when it failed
  std::uint32_t op_index = 0;                 // LAST_ERROR bits 31..16
  std::uint32_t fence = 0;
};

class DeviceDriver {
 public:
  DeviceDriver(Mmio& mmio, UntrustedMemory& memory, Platform& platform)
      : mmio_(mmio), memory_(memory), platform_(platform) {}
  ~DeviceDriver();  // wipes the channel key
  DeviceDriver(const DeviceDriver&) = delete;
  DeviceDriver& operator=(const DeviceDriver&) = delete;

  std::uint32_t read(gpu::Reg32 reg) { return mmio_.read32(reg); }

  // One admin command through the mailbox (§4): ARG0..3, CMD, then
  // CMD_STATUS and RESULT0/1.
  AdminResult admin(std::uint32_t cmd, std::uint32_t a0 = 0, std::uint32_t a1 = 0,
                    std::uint32_t a2 = 0, std::uint32_t a3 = 0);
  // The same with a key in KEY0..7 (the device wipes its key window after
  // every command).
  AdminResult admin_with_key(std::uint32_t cmd, std::span<const std::uint8_t, kChannelKeyBytes> key,
                             std::uint32_t a0 = 0, std::uint32_t a1 = 0);

  // Draws a fresh channel key and installs it (the device's expected
  // sequence number is then 1). Protected mode only: from the first call on
  // the driver submits nothing unencrypted, and nothing at all while no key
  // is installed.
  AdminResult install_channel_key();
  // Starts the ring: `entries` 64-byte entries at the start of `area`, the
  // rest of the area (from the next 4 KiB boundary) holds the command buffer.
  AdminResult start_ring(const Area& area, std::uint32_t entries);
  // Bytes of command buffer the ring area has room for.
  std::uint64_t command_room() const { return cmd_room_; }

  // Submits `cmdbuf` as the next ring entry of context `ctx` and waits for it
  // (one in flight at a time). In protected mode `cmdbuf` is encrypted in
  // place (its plaintext is gone afterwards).
  SubmitOutcome submit(std::uint32_t ctx, std::span<std::uint8_t> cmdbuf);

  bool is_protected() const { return protected_; }
  void set_poll_budget(std::uint64_t polls) { poll_budget_ = polls; }

 private:
  Mmio& mmio_;
  UntrustedMemory& memory_;
  Platform& platform_;
  std::array<std::uint8_t, kChannelKeyBytes> channel_key_{};
  bool protected_ = false;      // a channel key was asked for: never submit plaintext
  bool channel_ready_ = false;  // one is installed
  Area ring_{};
  std::uint32_t entries_ = 0;
  Area cmd_area_{};
  std::uint64_t cmd_room_ = 0;
  std::uint64_t next_seq_ = 1;
  std::uint32_t producer_ = 0;
  std::uint32_t last_fence_ = 0;
  std::uint64_t poll_budget_ = std::uint64_t{1} << 28;
};

}  // namespace hix::session
