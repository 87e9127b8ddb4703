// The session's keys (docs/specs/hix-session.md §3): the report binding of
// OPEN (§3.2) and the key schedule (§3.3), client side.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "hix/abi/hix_isa.h"
#include "hix/abi/hix_session.h"

namespace hix::client {

inline constexpr std::size_t kKeyBytes = HIX_SESSION_KEY_BYTES;
inline constexpr std::size_t kPublicKeyBytes = HIX_SESSION_PK_BYTES;
inline constexpr std::size_t kNonceBytes = HIX_SESSION_NONCE_BYTES;

using Key = std::array<std::uint8_t, kKeyBytes>;
using PublicKey = std::array<std::uint8_t, kPublicKeyBytes>;
using Nonce = std::array<std::uint8_t, kNonceBytes>;
using ReportData = std::array<std::uint8_t, HIX_REPORT_DATA_SIZE>;

// The client's ephemeral X25519 key pair (crypto_kx); the secret half is
// wiped when it goes.
class KeyPair {
 public:
  static KeyPair generate();
  ~KeyPair();
  KeyPair(const KeyPair&) = delete;
  KeyPair& operator=(const KeyPair&) = delete;
  KeyPair(KeyPair&& other) noexcept;
  KeyPair& operator=(KeyPair&& other) noexcept;

  const PublicKey& public_key() const { return pk_; }
  std::span<const std::uint8_t, kKeyBytes> secret_key() const { return sk_; }

 private:
  KeyPair() = default;
  PublicKey pk_{};
  Key sk_{};
};

// §3.2: report_data = SHA-256("OpenHIX-session-v1" || epk || cpk || nonce ||
// sid as u32 LE), then 32 zero bytes.
ReportData session_binding(std::span<const std::uint8_t, kPublicKeyBytes> enclave_pk,
                           std::span<const std::uint8_t, kPublicKeyBytes> client_pk,
                           std::span<const std::uint8_t, kNonceBytes> nonce, std::uint32_t session);

// §3.3's three keys, wiped when they go.
struct SessionKeys {
  Key c2e{};     // requests (client tx)
  Key e2c{};     // responses (client rx)
  Key tensor{};  // K_t: key slot 0 of the session's device context

  SessionKeys() = default;
  ~SessionKeys();
  SessionKeys(const SessionKeys&) = delete;
  SessionKeys& operator=(const SessionKeys&) = delete;
  SessionKeys(SessionKeys&& other) noexcept;
  SessionKeys& operator=(SessionKeys&& other) noexcept;
};

// K_t = BLAKE2b-256(key = K_c2e || K_e2c, message = "OpenHIX-tensor-key-v1").
Key tensor_key(std::span<const std::uint8_t, kKeyBytes> c2e,
               std::span<const std::uint8_t, kKeyBytes> e2c);

// The client's side of §3.3 (crypto_kx_client_session_keys with the
// enclave's public key); nullopt when libsodium refuses the enclave's key.
std::optional<SessionKeys> client_session_keys(
    const KeyPair& client, std::span<const std::uint8_t, kPublicKeyBytes> enclave_pk);

// Random bytes from the OS (libsodium's randombytes).
void random_bytes(std::span<std::uint8_t> out);
// Wipes `bytes` (sodium_memzero).
void wipe(std::span<std::uint8_t> bytes);

}  // namespace hix::client
