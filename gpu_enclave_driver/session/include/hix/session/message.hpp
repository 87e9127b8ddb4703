// Sealed messages between a client and the enclave (docs/specs/hix-session.md
// §5.1, §5.3): the 32-byte header, ChaCha20-Poly1305 (IETF) under the
// direction's key with nonce = direction (u32 LE) || counter (u64 LE) and the
// header as associated data. libsodium's API shape (STYLE §9): open is
// [[nodiscard]] and zeroes its output on failure. Both ends use these: the
// enclave receives direction 1 and seals direction 2, a client the reverse.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "hix/abi/hix_session.h"
#include "hix/session/session_table.hpp"
#include "hix/session/status.hpp"

namespace hix::session {

inline constexpr std::size_t kMsgHeaderBytes = HIX_MSG_HEADER_BYTES;
inline constexpr std::size_t kMsgTagBytes = HIX_MSG_TAG_BYTES;
inline constexpr std::size_t kMsgOverhead = kMsgHeaderBytes + kMsgTagBytes;
inline constexpr std::size_t kMsgMaxPlain = HIX_MSG_MAX;
inline constexpr std::size_t kMsgMaxSealed = kMsgOverhead + kMsgMaxPlain;

using MsgNonce = std::array<std::uint8_t, HIX_MSG_NONCE_BYTES>;

MsgNonce message_nonce(std::uint8_t direction, std::uint64_t counter);

// §5.3 step 1 for a message travelling in `direction`: the size covers a
// header and a tag, the length field agrees with it, magic, version and
// direction are right and the reserved fields are 0. The header, or
// MALFORMED.
[[nodiscard]] Status parse_header(std::span<const std::uint8_t> msg, std::uint8_t direction,
                                  hix_msg_header& out);

// §5.3 step 3: verifies and decrypts `msg` (header, ciphertext, tag; its
// header already parsed into `h`) in place, so that on success the plaintext
// is msg[32, 32 + h.length). On failure the ciphertext bytes are zeroed and
// false returned.
[[nodiscard]] bool open_in_place(std::span<std::uint8_t> msg, const hix_msg_header& h,
                                 const Key& key);

// §5.3 steps 4 and 5: the counter against the receiver's expected one.
constexpr Status check_counter(std::uint64_t counter, std::uint64_t expected) {
  if (counter < expected) return Status::replayed;
  if (counter > expected) return Status::reordered;
  return Status::ok;
}

// A header for a message of `length` plaintext bytes.
hix_msg_header make_header(std::uint8_t direction, std::uint16_t type, std::uint32_t session,
                           std::uint64_t counter, std::uint32_t length);

// Seals in place: `msg` is 48 + h.length bytes whose plaintext already sits
// at msg[32, 32 + h.length). Writes the header, encrypts, appends the tag.
// False (nothing written) if the size disagrees with the header.
[[nodiscard]] bool seal_in_place(std::span<std::uint8_t> msg, const hix_msg_header& h,
                                 const Key& key);

}  // namespace hix::session
