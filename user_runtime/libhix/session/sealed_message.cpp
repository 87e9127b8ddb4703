// Sealed messages, client side (docs/specs/hix-session.md §5).
#include "sealed_message.hpp"

#include <sodium.h>

#include <array>
#include <cstring>

namespace hix::client {
namespace {

static_assert(kMsgTagBytes == crypto_aead_chacha20poly1305_ietf_ABYTES);
static_assert(HIX_MSG_NONCE_BYTES == crypto_aead_chacha20poly1305_ietf_NPUBBYTES);

using MsgNonce = std::array<std::uint8_t, HIX_MSG_NONCE_BYTES>;

hix_msg_header make_header(const MessageFields& f, std::uint32_t length) {
  hix_msg_header h{};
  h.magic = HIX_MSG_MAGIC;
  h.version = HIX_MSG_VERSION;
  h.direction = f.direction;
  h.type = f.type;
  h.session = f.session;
  h.counter = f.counter;
  h.length = length;
  return h;
}

MsgNonce message_nonce(std::uint32_t direction, std::uint64_t counter) {
  MsgNonce n{};
  std::memcpy(n.data(), &direction, 4);  // little-endian host, as the wire
  std::memcpy(n.data() + 4, &counter, 8);
  return n;
}

}  // namespace

const char* to_string(OpenStatus s) {
  switch (s) {
    case OpenStatus::ok:
      return "ok";
    case OpenStatus::malformed:
      return "malformed";
    case OpenStatus::unknown_session:
      return "unknown_session";
    case OpenStatus::forged:
      return "forged";
    case OpenStatus::replayed:
      return "replayed";
    case OpenStatus::reordered:
      return "reordered";
    case OpenStatus::wrong_type:
      return "wrong_type";
  }
  return "unknown";
}

std::vector<std::uint8_t> seal_message(const MessageFields& fields,
                                       std::span<const std::uint8_t> plaintext,
                                       std::span<const std::uint8_t, kKeyBytes> key) {
  if (plaintext.size() > kMsgMax || sodium_init() < 0) return {};
  const hix_msg_header h = make_header(fields, static_cast<std::uint32_t>(plaintext.size()));
  std::vector<std::uint8_t> out(kMsgHeaderBytes + plaintext.size() + kMsgTagBytes);
  std::memcpy(out.data(), &h, sizeof h);
  const MsgNonce n = message_nonce(fields.direction, fields.counter);
  crypto_aead_chacha20poly1305_ietf_encrypt_detached(
      out.data() + kMsgHeaderBytes, out.data() + kMsgHeaderBytes + plaintext.size(), nullptr,
      plaintext.data(), plaintext.size(), out.data(), kMsgHeaderBytes, nullptr, n.data(),
      key.data());
  return out;
}

OpenStatus open_message(std::span<const std::uint8_t> message, const MessageFields& expected,
                        std::span<const std::uint8_t, kKeyBytes> key,
                        std::vector<std::uint8_t>& plaintext) {
  plaintext.clear();
  if (message.size() < kMsgHeaderBytes + kMsgTagBytes || sodium_init() < 0) {
    return OpenStatus::malformed;
  }
  hix_msg_header h{};
  std::memcpy(&h, message.data(), sizeof h);
  const std::size_t body = message.size() - kMsgHeaderBytes - kMsgTagBytes;
  if (h.length != body || h.length > kMsgMax || h.magic != HIX_MSG_MAGIC ||
      h.version != HIX_MSG_VERSION || h.direction != expected.direction || h.reserved != 0 ||
      h.reserved2 != 0) {
    return OpenStatus::malformed;
  }
  if (h.session != expected.session) return OpenStatus::unknown_session;
  std::vector<std::uint8_t> out(body);
  const MsgNonce n = message_nonce(h.direction, h.counter);
  if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(
          out.data(), nullptr, message.data() + kMsgHeaderBytes, body,
          message.data() + kMsgHeaderBytes + body, message.data(), kMsgHeaderBytes, n.data(),
          key.data()) != 0) {
    return OpenStatus::forged;
  }
  if (h.counter < expected.counter) {
    sodium_memzero(out.data(), out.size());
    return OpenStatus::replayed;
  }
  if (h.counter > expected.counter) {
    sodium_memzero(out.data(), out.size());
    return OpenStatus::reordered;
  }
  if (h.type != expected.type) {
    sodium_memzero(out.data(), out.size());
    return OpenStatus::wrong_type;
  }
  plaintext = std::move(out);
  return OpenStatus::ok;
}

std::vector<std::uint8_t> Channel::seal_request(std::uint16_t type,
                                                std::span<const std::uint8_t> plaintext) {
  const MessageFields f{HIX_MSG_TO_ENCLAVE, type, session_, send_next_};
  ++send_next_;
  return seal_message(f, plaintext, keys_.c2e);
}

Result<std::vector<std::uint8_t>> Channel::open_response(std::uint16_t type,
                                                         std::span<const std::uint8_t> message) {
  const MessageFields want{HIX_MSG_TO_CLIENT, type, session_, recv_expected_};
  std::vector<std::uint8_t> plain;
  const OpenStatus s = open_message(message, want, keys_.e2c, plain);
  if (s != OpenStatus::ok) {
    return fail(ErrorKind::protocol, std::string("the enclave's response did not open: ") +
                                         to_string(s) + " (counter " +
                                         std::to_string(recv_expected_) + " expected)");
  }
  ++recv_expected_;
  if (plain.size() < sizeof(hix_msg_status)) {
    return fail(ErrorKind::protocol, "the enclave's response is shorter than its status");
  }
  return plain;
}

}  // namespace hix::client
