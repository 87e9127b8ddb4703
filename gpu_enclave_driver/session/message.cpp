// Sealed messages (docs/specs/hix-session.md §5.1, §5.3).
#include "hix/session/message.hpp"

#include <sodium.h>

#include <cstring>

namespace hix::session {

static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == HIX_MSG_NONCE_BYTES);
static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == HIX_MSG_TAG_BYTES);
static_assert(crypto_aead_chacha20poly1305_ietf_KEYBYTES == kKeyBytes);
static_assert(sizeof(hix_msg_header) == kMsgHeaderBytes);

MsgNonce message_nonce(std::uint8_t direction, std::uint64_t counter) {
  MsgNonce n{};
  const std::uint32_t d = direction;
  std::memcpy(n.data(), &d, sizeof d);  // little-endian, as is x86-64
  std::memcpy(n.data() + sizeof d, &counter, sizeof counter);
  return n;
}

Status parse_header(std::span<const std::uint8_t> msg, std::uint8_t direction,
                    hix_msg_header& out) {
  if (msg.size() < kMsgOverhead || msg.size() > kMsgMaxSealed) return Status::malformed;
  hix_msg_header h;
  std::memcpy(&h, msg.data(), sizeof h);
  if (h.magic != HIX_MSG_MAGIC || h.version != HIX_MSG_VERSION || h.direction != direction ||
      h.reserved != 0 || h.reserved2 != 0 || h.length > kMsgMaxPlain ||
      std::uint64_t{h.length} + kMsgOverhead != msg.size()) {
    return Status::malformed;
  }
  out = h;
  return Status::ok;
}

bool open_in_place(std::span<std::uint8_t> msg, const hix_msg_header& h, const Key& key) {
  if (std::uint64_t{h.length} + kMsgOverhead != msg.size()) return false;
  const MsgNonce nonce = message_nonce(h.direction, h.counter);
  std::uint8_t* body = msg.data() + kMsgHeaderBytes;
  // The associated data is the header as received (msg[0, 32)), which
  // parse_header checked field by field.
  return crypto_aead_chacha20poly1305_ietf_decrypt_detached(
             body, nullptr, body, h.length, body + h.length, msg.data(), kMsgHeaderBytes,
             nonce.data(), key.data()) == 0;
}

hix_msg_header make_header(std::uint8_t direction, std::uint16_t type, std::uint32_t session,
                           std::uint64_t counter, std::uint32_t length) {
  hix_msg_header h{};
  h.magic = HIX_MSG_MAGIC;
  h.version = HIX_MSG_VERSION;
  h.direction = direction;
  h.type = type;
  h.session = session;
  h.counter = counter;
  h.length = length;
  return h;
}

bool seal_in_place(std::span<std::uint8_t> msg, const hix_msg_header& h, const Key& key) {
  if (std::uint64_t{h.length} + kMsgOverhead != msg.size()) return false;
  std::memcpy(msg.data(), &h, sizeof h);
  const MsgNonce nonce = message_nonce(h.direction, h.counter);
  std::uint8_t* body = msg.data() + kMsgHeaderBytes;
  crypto_aead_chacha20poly1305_ietf_encrypt_detached(body, body + h.length, nullptr, body, h.length,
                                                     msg.data(), kMsgHeaderBytes, nullptr,
                                                     nonce.data(), key.data());
  return true;
}

}  // namespace hix::session
