// Ring-entry authentication (spec §5.2): an entry and its command buffer are
// one ChaCha20-Poly1305 message under the channel key, nonce "HXRG" || seq,
// associated data = entry bytes 0..47, tag = entry bytes 48..63.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "hix/abi/vgpu_ring.h"
#include "secret_key.hpp"
#include "status.hpp"

namespace hix::vgpu {

// Encrypts `cmdbuf` in place and writes entry.tag (the GPU enclave's side;
// also used by tests and benchmarks).
void seal_ring_entry(hix_vgpu_ring_entry& entry, std::span<std::byte> cmdbuf,
                     std::span<const std::uint8_t, kKeyBytes> channel_key);

// Verifies entry.tag over the entry and `cmdbuf` and decrypts `cmdbuf` in
// place. `cmdbuf` must be the device's own copy. On failure `cmdbuf` is
// zeroed and AUTH_FAILED returned.
[[nodiscard]] Status open_ring_entry(const hix_vgpu_ring_entry& entry, std::span<std::byte> cmdbuf,
                                     std::span<const std::uint8_t, kKeyBytes> channel_key);

}  // namespace hix::vgpu
