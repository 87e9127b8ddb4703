// Ring-entry authentication (spec §5.2).
#include "ring_auth.hpp"

#include <sodium.h>

#include <array>
#include <cstring>

namespace hix::vgpu {
namespace {

// The IETF ChaCha20-Poly1305 nonce of entry `seq` (spec §5.2): the 4-byte
// prefix, then the sequence number little-endian.
constexpr std::size_t kPrefixBytes = 4;
static_assert(kPrefixBytes + sizeof(std::uint64_t) == crypto_aead_chacha20poly1305_ietf_NPUBBYTES);

std::array<std::uint8_t, crypto_aead_chacha20poly1305_ietf_NPUBBYTES> ring_nonce(
    std::uint64_t seq) {
  std::array<std::uint8_t, crypto_aead_chacha20poly1305_ietf_NPUBBYTES> n{};
  std::memcpy(n.data(), HIX_VGPU_RING_NONCE_PREFIX, kPrefixBytes);
  for (std::size_t i = 0; i < sizeof(seq); ++i) {
    n[kPrefixBytes + i] = static_cast<std::uint8_t>(seq >> (8 * i));
  }
  return n;
}

std::array<unsigned char, HIX_VGPU_RING_AAD_BYTES> ring_aad(const hix_vgpu_ring_entry& e) {
  std::array<unsigned char, HIX_VGPU_RING_AAD_BYTES> aad{};
  std::memcpy(aad.data(), &e, aad.size());
  return aad;
}

// libsodium declares its buffers non-null even for zero lengths.
unsigned char* uc(std::span<std::byte> s) {
  static unsigned char empty = 0;
  if (s.empty()) return &empty;
  return reinterpret_cast<unsigned char*>(s.data());  // byte -> unsigned char, same object
}

}  // namespace

void seal_ring_entry(hix_vgpu_ring_entry& entry, std::span<std::byte> cmdbuf,
                     std::span<const std::uint8_t, kKeyBytes> channel_key) {
  const auto nonce = ring_nonce(entry.seq);
  const auto aad = ring_aad(entry);
  unsigned long long tag_len = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt_detached(uc(cmdbuf), entry.tag, &tag_len, uc(cmdbuf),
                                                     cmdbuf.size(), aad.data(), aad.size(), nullptr,
                                                     nonce.data(), channel_key.data());
}

Status open_ring_entry(const hix_vgpu_ring_entry& entry, std::span<std::byte> cmdbuf,
                       std::span<const std::uint8_t, kKeyBytes> channel_key) {
  const auto nonce = ring_nonce(entry.seq);
  const auto aad = ring_aad(entry);
  if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(
          uc(cmdbuf), nullptr, uc(cmdbuf), cmdbuf.size(), entry.tag, aad.data(), aad.size(),
          nonce.data(), channel_key.data()) != 0) {
    sodium_memzero(cmdbuf.data(), cmdbuf.size());
    return Status::auth_failed;
  }
  return Status::ok;
}

}  // namespace hix::vgpu
