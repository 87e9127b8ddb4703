// The enclave's check of a client's command buffer before it reaches the
// ring (docs/specs/hix-session.md §7; the format is docs/specs/hix-gpu.md
// §6): header, an op whitelist with per-opcode record descriptors (default
// deny), every tensor reference against the session's buffers, loop
// structure, every DMA against the session's window, key slots and tensor
// ids. The first failure decides the §8.1 reason and op index.
#pragma once

#include <cstdint>
#include <span>

#include "hix/session/mode.hpp"
#include "hix/session/session_table.hpp"
#include "hix/session/status.hpp"

namespace hix::session {

struct Validation {
  Reason reason = Reason::none;
  std::uint32_t op_index = 0;
  // The highest DMA_IN_DECRYPT tensor id under slot 0 in the buffer (0: none);
  // the session records it once the buffer goes to the device.
  std::uint64_t highest_input_id = 0;
  constexpr bool ok() const { return reason == Reason::none; }
};

[[nodiscard]] Validation validate_cmdbuf(std::span<const std::uint8_t> cmdbuf, const Session& s,
                                         Mode mode);

// Bytes a tensor of `bytes` plaintext bytes takes sealed (spec hix-gpu §7.1),
// 0 when `bytes` is not a valid tensor size.
std::uint64_t sealed_bytes(std::uint64_t bytes);

}  // namespace hix::session
