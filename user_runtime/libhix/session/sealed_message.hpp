// Sealed messages between the client and the GPU enclave
// (docs/specs/hix-session.md §5): a 32-byte header (the associated data),
// the ChaCha20-Poly1305 (IETF) ciphertext and a 16-byte tag; nonce =
// direction (u32 LE) || counter (u64 LE). A Channel holds one session's
// keys and both counters; it seals requests (direction 1, K_c2e) and opens
// responses (direction 2, K_e2c) checking them as §5.3 says a receiver must.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "hix/abi/hix_session.h"
#include "keys.hpp"
#include "result.hpp"

namespace hix::client {

inline constexpr std::size_t kMsgHeaderBytes = HIX_MSG_HEADER_BYTES;
inline constexpr std::size_t kMsgTagBytes = HIX_MSG_TAG_BYTES;
inline constexpr std::size_t kMsgMax = HIX_MSG_MAX;
// The largest sealed message on the wire.
inline constexpr std::size_t kSealedMsgMax = kMsgHeaderBytes + kMsgMax + kMsgTagBytes;

// The header's variable fields.
struct MessageFields {
  std::uint8_t direction = HIX_MSG_TO_ENCLAVE;
  std::uint16_t type = 0;
  std::uint32_t session = 0;
  std::uint64_t counter = 0;
};

// Seals `plaintext` (≤ HIX_MSG_MAX bytes) as one message under `key`.
std::vector<std::uint8_t> seal_message(const MessageFields& fields,
                                       std::span<const std::uint8_t> plaintext,
                                       std::span<const std::uint8_t, kKeyBytes> key);

// The outcome of opening a message, in §5.3's order.
enum class OpenStatus : std::uint8_t {
  ok,
  malformed,        // size, length field, magic, version, direction, reserved fields
  unknown_session,  // another session's id
  forged,           // the tag does not verify
  replayed,         // counter below the expected one
  reordered,        // counter above the expected one
  wrong_type,       // a response to another request type (checked after the tag)
};
const char* to_string(OpenStatus s);

// Opens `message` expecting `expected` (direction, type, session, counter).
// On success `plaintext` holds the bytes; on failure it is empty.
[[nodiscard]] OpenStatus open_message(std::span<const std::uint8_t> message,
                                      const MessageFields& expected,
                                      std::span<const std::uint8_t, kKeyBytes> key,
                                      std::vector<std::uint8_t>& plaintext);

// One session's message channel, client side.
class Channel {
 public:
  Channel(std::uint32_t session, SessionKeys keys) : session_(session), keys_(std::move(keys)) {}

  std::uint32_t session() const { return session_; }
  const SessionKeys& keys() const { return keys_; }
  std::uint64_t next_send() const { return send_next_; }
  std::uint64_t expected_receive() const { return recv_expected_; }

  // The next request of `type`; its counter is used up.
  std::vector<std::uint8_t> seal_request(std::uint16_t type,
                                         std::span<const std::uint8_t> plaintext);
  // Opens the response to a request of `type`; the expected counter
  // advances only when it opened. The plaintext starts with hix_msg_status.
  Result<std::vector<std::uint8_t>> open_response(std::uint16_t type,
                                                  std::span<const std::uint8_t> message);

 private:
  std::uint32_t session_;
  SessionKeys keys_;
  std::uint64_t send_next_ = 1;
  std::uint64_t recv_expected_ = 1;
};

}  // namespace hix::client
