// The session's keys, client side (docs/specs/hix-session.md §3.2, §3.3).
#include "keys.hpp"

#include <sodium.h>

#include <cstdlib>
#include <cstring>
#include <string_view>
#include <utility>

namespace hix::client {
namespace {

constexpr std::string_view kBindLabel = HIX_SESSION_BIND_LABEL;
constexpr std::string_view kTensorLabel = HIX_SESSION_TENSOR_LABEL;
static_assert(kBindLabel.size() == 18, "hix-session §3.2: the 18 label bytes, no terminator");
static_assert(kTensorLabel.size() == 21, "hix-session §3.3");
static_assert(kPublicKeyBytes == crypto_kx_PUBLICKEYBYTES);
static_assert(kKeyBytes == crypto_kx_SECRETKEYBYTES);
static_assert(kKeyBytes == crypto_kx_SESSIONKEYBYTES);
static_assert(2 * kKeyBytes <= crypto_generichash_KEYBYTES_MAX);

void init_sodium() {
  // sodium_init is idempotent and thread-safe; it fails only without an
  // entropy source, where no key may be drawn at all.
  if (sodium_init() < 0) std::abort();
}

void move_key(Key& to, Key& from) {
  to = from;
  sodium_memzero(from.data(), from.size());
}

}  // namespace

KeyPair KeyPair::generate() {
  init_sodium();
  KeyPair kp;
  crypto_kx_keypair(kp.pk_.data(), kp.sk_.data());
  return kp;
}

KeyPair::~KeyPair() {
  sodium_memzero(sk_.data(), sk_.size());
}

KeyPair::KeyPair(KeyPair&& other) noexcept : pk_(other.pk_) {
  move_key(sk_, other.sk_);
}

KeyPair& KeyPair::operator=(KeyPair&& other) noexcept {
  if (this != &other) {
    pk_ = other.pk_;
    move_key(sk_, other.sk_);
  }
  return *this;
}

ReportData session_binding(std::span<const std::uint8_t, kPublicKeyBytes> enclave_pk,
                           std::span<const std::uint8_t, kPublicKeyBytes> client_pk,
                           std::span<const std::uint8_t, kNonceBytes> nonce,
                           std::uint32_t session) {
  init_sodium();
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  // reinterpret_cast: the label's chars as the bytes SHA-256 reads.
  crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(kBindLabel.data()),
                            kBindLabel.size());
  crypto_hash_sha256_update(&st, enclave_pk.data(), enclave_pk.size());
  crypto_hash_sha256_update(&st, client_pk.data(), client_pk.size());
  crypto_hash_sha256_update(&st, nonce.data(), nonce.size());
  const std::array<std::uint8_t, 4> sid = {
      static_cast<std::uint8_t>(session), static_cast<std::uint8_t>(session >> 8),
      static_cast<std::uint8_t>(session >> 16), static_cast<std::uint8_t>(session >> 24)};
  crypto_hash_sha256_update(&st, sid.data(), sid.size());
  ReportData out{};
  crypto_hash_sha256_final(&st, out.data());
  return out;
}

SessionKeys::~SessionKeys() {
  sodium_memzero(c2e.data(), c2e.size());
  sodium_memzero(e2c.data(), e2c.size());
  sodium_memzero(tensor.data(), tensor.size());
}

SessionKeys::SessionKeys(SessionKeys&& other) noexcept {
  move_key(c2e, other.c2e);
  move_key(e2c, other.e2c);
  move_key(tensor, other.tensor);
}

SessionKeys& SessionKeys::operator=(SessionKeys&& other) noexcept {
  if (this != &other) {
    move_key(c2e, other.c2e);
    move_key(e2c, other.e2c);
    move_key(tensor, other.tensor);
  }
  return *this;
}

Key tensor_key(std::span<const std::uint8_t, kKeyBytes> c2e,
               std::span<const std::uint8_t, kKeyBytes> e2c) {
  init_sodium();
  std::array<std::uint8_t, 2 * kKeyBytes> k{};
  std::memcpy(k.data(), c2e.data(), kKeyBytes);
  std::memcpy(k.data() + kKeyBytes, e2c.data(), kKeyBytes);
  Key out{};
  // reinterpret_cast: the label's chars as the message bytes.
  crypto_generichash(out.data(), out.size(),
                     reinterpret_cast<const unsigned char*>(kTensorLabel.data()),
                     kTensorLabel.size(), k.data(), k.size());
  sodium_memzero(k.data(), k.size());
  return out;
}

std::optional<SessionKeys> client_session_keys(
    const KeyPair& client, std::span<const std::uint8_t, kPublicKeyBytes> enclave_pk) {
  init_sodium();
  SessionKeys keys;
  // rx first: client rx = enclave tx = K_e2c; client tx = K_c2e.
  if (crypto_kx_client_session_keys(keys.e2c.data(), keys.c2e.data(), client.public_key().data(),
                                    client.secret_key().data(), enclave_pk.data()) != 0) {
    return std::nullopt;
  }
  keys.tensor = tensor_key(keys.c2e, keys.e2c);
  return keys;
}

void random_bytes(std::span<std::uint8_t> out) {
  init_sodium();
  randombytes_buf(out.data(), out.size());
}

void wipe(std::span<std::uint8_t> bytes) {
  sodium_memzero(bytes.data(), bytes.size());
}

}  // namespace hix::client
