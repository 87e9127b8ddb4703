// Sealed tensors as the hix-gpu's crypto engine reads and writes them
// (docs/specs/hix-gpu.md §7.1): ChaCha20-Poly1305 (IETF) chunks of 64 KiB of
// plaintext, each a 32-byte header (the associated data), the ciphertext and
// a 16-byte tag, under the key of the chunk's key slot; nonce = chunk index
// (u32 LE) || tensor id (u64 LE). The client's own implementation (libsodium's
// API shape, STYLE §9): seal into exactly sealed_size bytes; open is
// [[nodiscard]] and zeroes its output on any failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "hix/abi/vgpu_chunk.h"
#include "keys.hpp"

namespace hix::client {

inline constexpr std::uint64_t kChunkBytes = HIX_VGPU_CHUNK_BYTES;
inline constexpr std::uint64_t kChunkStride = HIX_VGPU_CHUNK_STRIDE;
inline constexpr std::uint64_t kChunkOverhead =
    HIX_VGPU_CHUNK_HEADER_BYTES + HIX_VGPU_CHUNK_TAG_BYTES;
inline constexpr std::uint64_t kDeviceTensorBit = HIX_VGPU_TENSOR_ID_DEVICE;
inline constexpr std::uint64_t kTensorMaxBytes = HIX_VGPU_TENSOR_MAX_BYTES;

// Which key slot and tensor id the chunks are bound to.
struct TensorSeal {
  std::uint8_t key_slot = 0;
  std::uint64_t tensor_id = 0;
};

// Bytes a sealed tensor of `bytes` plaintext bytes takes: bytes + 48 per
// chunk; 0 for a size outside 1..2^40.
std::uint64_t sealed_size(std::uint64_t bytes);

// Seals `plain` into `out` (exactly sealed_size(plain.size()) bytes). False
// (and nothing written) for a bad size.
[[nodiscard]] bool seal_tensor(std::span<std::uint8_t> out, std::span<const std::uint8_t> plain,
                               TensorSeal seal, std::span<const std::uint8_t, kKeyBytes> key);

// Opens `sealed` into `plain` (its size is the tensor size expected): every
// chunk header must carry `seal`'s slot and id, its index, the chunk count
// and the tensor size, and every tag must verify. On any failure `plain` is
// zeroed and false returned.
[[nodiscard]] bool open_tensor(std::span<std::uint8_t> plain, std::span<const std::uint8_t> sealed,
                               TensorSeal seal, std::span<const std::uint8_t, kKeyBytes> key);

// The same for chunks first_chunk.. of a tensor of `tensor_bytes` bytes, so
// that several threads can seal (or check) one tensor: `plain` holds the
// plaintext from byte first_chunk * kChunkBytes on, whole chunks except the
// tensor's last, and `sealed` exactly their sealed size. seal_tensor and
// open_tensor are these with first_chunk 0 and the whole tensor.
[[nodiscard]] bool seal_tensor_chunks(std::span<std::uint8_t> out,
                                      std::span<const std::uint8_t> plain, TensorSeal seal,
                                      std::uint64_t tensor_bytes, std::uint32_t first_chunk,
                                      std::span<const std::uint8_t, kKeyBytes> key);
[[nodiscard]] bool open_tensor_chunks(std::span<std::uint8_t> plain,
                                      std::span<const std::uint8_t> sealed, TensorSeal seal,
                                      std::uint64_t tensor_bytes, std::uint32_t first_chunk,
                                      std::span<const std::uint8_t, kKeyBytes> key);

}  // namespace hix::client
