// Sealed-tensor framing (spec §7.1).
#include "sealed_chunk.hpp"

#include <sodium.h>

#include <array>
#include <cstring>

namespace hix::vgpu {
namespace {

using Nonce = std::array<std::uint8_t, HIX_VGPU_CHUNK_NONCE_BYTES>;

Nonce chunk_nonce(std::uint32_t index, std::uint64_t tensor_id) {
  Nonce n{};
  for (std::size_t i = 0; i < 4; ++i) n[i] = static_cast<std::uint8_t>(index >> (8 * i));
  for (std::size_t i = 0; i < 8; ++i) n[4 + i] = static_cast<std::uint8_t>(tensor_id >> (8 * i));
  return n;
}

// Which chunk of how many a header describes.
struct ChunkPosition {
  std::uint32_t index = 0;
  std::uint32_t count = 0;
};

hix_vgpu_chunk_header make_header(SealParams p, ChunkPosition at, std::uint64_t bytes) {
  hix_vgpu_chunk_header h{};
  h.magic = HIX_VGPU_CHUNK_MAGIC;
  h.version = HIX_VGPU_CHUNK_VERSION;
  h.key_id = p.key_id;
  h.tensor_id = p.tensor_id;
  h.chunk_index = at.index;
  h.chunk_count = at.count;
  h.tensor_bytes = bytes;
  return h;
}

// The reinterpretation of bytes as unsigned chars libsodium wants.
const unsigned char* uc(const std::byte* p) {
  return reinterpret_cast<const unsigned char*>(p);  // byte -> unsigned char, same object
}
unsigned char* uc(std::byte* p) {
  return reinterpret_cast<unsigned char*>(p);  // byte -> unsigned char, same object
}

}  // namespace

std::uint64_t sealed_chunk_count(std::uint64_t bytes) {
  if (bytes == 0 || bytes > HIX_VGPU_TENSOR_MAX_BYTES) return 0;
  return (bytes + kChunkBytes - 1) / kChunkBytes;
}

std::uint64_t sealed_size(std::uint64_t bytes) {
  const std::uint64_t n = sealed_chunk_count(bytes);
  if (n == 0) return 0;
  const std::uint64_t last = bytes - (n - 1) * kChunkBytes;
  return (n - 1) * kChunkStride + kChunkHeaderBytes + last + kChunkTagBytes;
}

Status seal_tensor(std::span<std::byte> out, std::span<const std::byte> plain, SealParams params,
                   std::span<const std::uint8_t, kKeyBytes> key) {
  const std::uint64_t n = sealed_chunk_count(plain.size());
  if (n == 0 || out.size() != sealed_size(plain.size())) return Status::invalid_arg;
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t len = std::min<std::uint64_t>(kChunkBytes, plain.size() - i * kChunkBytes);
    const auto h = make_header(
        params, {.index = static_cast<std::uint32_t>(i), .count = static_cast<std::uint32_t>(n)},
        plain.size());
    std::byte* chunk = out.data() + i * kChunkStride;
    std::memcpy(chunk, &h, sizeof h);
    const Nonce nonce = chunk_nonce(static_cast<std::uint32_t>(i), params.tensor_id);
    unsigned long long tag_len = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(
        uc(chunk + kChunkHeaderBytes), uc(chunk + kChunkHeaderBytes + len), &tag_len,
        uc(plain.data() + i * kChunkBytes), len, uc(chunk), kChunkHeaderBytes, nullptr,
        nonce.data(), key.data());
  }
  return Status::ok;
}

Status open_tensor(std::span<std::byte> plain, std::span<const std::byte> sealed, SealParams params,
                   std::span<const std::uint8_t, kKeyBytes> key) {
  const std::uint64_t n = sealed_chunk_count(plain.size());
  const auto fail = [&plain] {
    sodium_memzero(plain.data(), plain.size());
    return Status::auth_failed;
  };
  if (n == 0 || sealed.size() != sealed_size(plain.size())) return fail();
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t len = std::min<std::uint64_t>(kChunkBytes, plain.size() - i * kChunkBytes);
    const std::byte* chunk = sealed.data() + i * kChunkStride;
    hix_vgpu_chunk_header got{};
    std::memcpy(&got, chunk, sizeof got);
    const auto want = make_header(
        params, {.index = static_cast<std::uint32_t>(i), .count = static_cast<std::uint32_t>(n)},
        plain.size());
    if (std::memcmp(&got, &want, sizeof got) != 0) return fail();
    const Nonce nonce = chunk_nonce(static_cast<std::uint32_t>(i), params.tensor_id);
    if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(
            uc(plain.data() + i * kChunkBytes), nullptr, uc(chunk + kChunkHeaderBytes), len,
            uc(chunk + kChunkHeaderBytes + len), uc(chunk), kChunkHeaderBytes, nonce.data(),
            key.data()) != 0) {
      return fail();
    }
  }
  return Status::ok;
}

}  // namespace hix::vgpu
