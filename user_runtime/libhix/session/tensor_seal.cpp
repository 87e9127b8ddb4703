// Sealed tensors, client side (docs/specs/hix-gpu.md §7.1).
#include "tensor_seal.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>

namespace hix::client {
namespace {

static_assert(HIX_VGPU_CHUNK_TAG_BYTES == crypto_aead_chacha20poly1305_ietf_ABYTES);
static_assert(HIX_VGPU_CHUNK_NONCE_BYTES == crypto_aead_chacha20poly1305_ietf_NPUBBYTES);
static_assert(kKeyBytes == crypto_aead_chacha20poly1305_ietf_KEYBYTES);

using Header = std::array<std::uint8_t, HIX_VGPU_CHUNK_HEADER_BYTES>;
using ChunkNonce = std::array<std::uint8_t, HIX_VGPU_CHUNK_NONCE_BYTES>;

void put_le(std::uint8_t* p, std::uint64_t v, unsigned bytes) {
  for (unsigned i = 0; i < bytes; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

std::uint64_t chunk_count(std::uint64_t bytes) {
  return (bytes + kChunkBytes - 1) / kChunkBytes;
}

// The header of chunk `index`, field by field in §7.1's order.
Header chunk_header(TensorSeal seal, std::uint32_t index, std::uint32_t count,
                    std::uint64_t tensor_bytes) {
  Header h{};
  put_le(h.data() + 0, HIX_VGPU_CHUNK_MAGIC, 4);
  h[4] = HIX_VGPU_CHUNK_VERSION;
  h[5] = seal.key_slot;
  put_le(h.data() + 8, seal.tensor_id, 8);
  put_le(h.data() + 16, index, 4);
  put_le(h.data() + 20, count, 4);
  put_le(h.data() + 24, tensor_bytes, 8);
  return h;
}

ChunkNonce chunk_nonce(std::uint32_t index, std::uint64_t tensor_id) {
  ChunkNonce n{};
  put_le(n.data(), index, 4);
  put_le(n.data() + 4, tensor_id, 8);
  return n;
}

}  // namespace

std::uint64_t sealed_size(std::uint64_t bytes) {
  if (bytes == 0 || bytes > kTensorMaxBytes) return 0;
  return bytes + chunk_count(bytes) * kChunkOverhead;
}

namespace {

// Chunks [first, first + n) of a tensor of `bytes` bytes whose plaintext is
// `plain_size` bytes from chunk `first` on; 0 when that is not a run of
// whole chunks (the last may end at the tensor's end).
std::uint32_t chunk_run(std::uint64_t bytes, std::uint32_t first, std::uint64_t plain_size) {
  if (sealed_size(bytes) == 0 || first >= chunk_count(bytes) || plain_size == 0) return 0;
  const std::uint64_t from = std::uint64_t{first} * kChunkBytes;
  if (plain_size > bytes - from) return 0;
  if (plain_size % kChunkBytes != 0 && from + plain_size != bytes) return 0;
  return static_cast<std::uint32_t>(chunk_count(plain_size));
}

}  // namespace

bool seal_tensor(std::span<std::uint8_t> out, std::span<const std::uint8_t> plain, TensorSeal seal,
                 std::span<const std::uint8_t, kKeyBytes> key) {
  return seal_tensor_chunks(out, plain, seal, plain.size(), 0, key);
}

bool open_tensor(std::span<std::uint8_t> plain, std::span<const std::uint8_t> sealed,
                 TensorSeal seal, std::span<const std::uint8_t, kKeyBytes> key) {
  return open_tensor_chunks(plain, sealed, seal, plain.size(), 0, key);
}

bool seal_tensor_chunks(std::span<std::uint8_t> out, std::span<const std::uint8_t> plain,
                        TensorSeal seal, std::uint64_t tensor_bytes, std::uint32_t first_chunk,
                        std::span<const std::uint8_t, kKeyBytes> key) {
  const std::uint32_t run = chunk_run(tensor_bytes, first_chunk, plain.size());
  if (run == 0 || out.size() != plain.size() + run * kChunkOverhead || sodium_init() < 0) {
    return false;
  }
  const auto count = static_cast<std::uint32_t>(chunk_count(tensor_bytes));
  for (std::uint32_t k = 0; k < run; ++k) {
    const std::uint32_t i = first_chunk + k;
    const std::uint64_t from = std::uint64_t{k} * kChunkBytes;
    const std::uint64_t len = std::min(kChunkBytes, plain.size() - from);
    std::uint8_t* chunk = out.data() + std::uint64_t{k} * kChunkStride;
    const Header h = chunk_header(seal, i, count, tensor_bytes);
    const ChunkNonce n = chunk_nonce(i, seal.tensor_id);
    std::memcpy(chunk, h.data(), h.size());
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(chunk + h.size(), chunk + h.size() + len,
                                                       nullptr, plain.data() + from, len, h.data(),
                                                       h.size(), nullptr, n.data(), key.data());
  }
  return true;
}

bool open_tensor_chunks(std::span<std::uint8_t> plain, std::span<const std::uint8_t> sealed,
                        TensorSeal seal, std::uint64_t tensor_bytes, std::uint32_t first_chunk,
                        std::span<const std::uint8_t, kKeyBytes> key) {
  const std::uint32_t run = chunk_run(tensor_bytes, first_chunk, plain.size());
  if (run == 0 || sealed.size() != plain.size() + run * kChunkOverhead || sodium_init() < 0) {
    sodium_memzero(plain.data(), plain.size());
    return false;
  }
  const auto count = static_cast<std::uint32_t>(chunk_count(tensor_bytes));
  for (std::uint32_t k = 0; k < run; ++k) {
    const std::uint32_t i = first_chunk + k;
    const std::uint64_t from = std::uint64_t{k} * kChunkBytes;
    const std::uint64_t len = std::min(kChunkBytes, plain.size() - from);
    const std::uint8_t* chunk = sealed.data() + std::uint64_t{k} * kChunkStride;
    // The header must be exactly the one we expect: comparing it (rather
    // than parsing it) checks magic, version, slot, id, index, count and
    // size at once, and it is the associated data too.
    const Header h = chunk_header(seal, i, count, tensor_bytes);
    const ChunkNonce n = chunk_nonce(i, seal.tensor_id);
    if (std::memcmp(chunk, h.data(), h.size()) != 0 ||
        crypto_aead_chacha20poly1305_ietf_decrypt_detached(
            plain.data() + from, nullptr, chunk + h.size(), len, chunk + h.size() + len, h.data(),
            h.size(), n.data(), key.data()) != 0) {
      sodium_memzero(plain.data(), plain.size());
      return false;
    }
  }
  return true;
}

}  // namespace hix::client
