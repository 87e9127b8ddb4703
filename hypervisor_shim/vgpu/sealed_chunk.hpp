// Sealed tensors (spec §7.1): fixed-size ChaCha20-Poly1305 chunks whose
// nonce is (chunk index, tensor id) under the key slot's key and whose header
// is the associated data. libsodium's API shape: seal / open, sizes as named
// constants, open is [[nodiscard]] and zeroes its output on failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "hix/abi/vgpu_chunk.h"
#include "secret_key.hpp"
#include "status.hpp"

namespace hix::vgpu {

inline constexpr std::uint64_t kChunkBytes = HIX_VGPU_CHUNK_BYTES;
inline constexpr std::uint64_t kChunkStride = HIX_VGPU_CHUNK_STRIDE;
inline constexpr std::uint64_t kChunkHeaderBytes = HIX_VGPU_CHUNK_HEADER_BYTES;
inline constexpr std::uint64_t kChunkTagBytes = HIX_VGPU_CHUNK_TAG_BYTES;
inline constexpr std::uint64_t kDeviceTensorBit = HIX_VGPU_TENSOR_ID_DEVICE;

struct SealParams {
  std::uint8_t key_id;
  std::uint64_t tensor_id;
};

// Chunks of a tensor of `bytes` bytes (0 for an invalid size).
std::uint64_t sealed_chunk_count(std::uint64_t bytes);
// Bytes a sealed tensor of `bytes` plaintext bytes occupies (0 if invalid).
std::uint64_t sealed_size(std::uint64_t bytes);

// Seals `plain` into `out` (exactly sealed_size(plain.size()) bytes).
[[nodiscard]] Status seal_tensor(std::span<std::byte> out, std::span<const std::byte> plain,
                                 SealParams params, std::span<const std::uint8_t, kKeyBytes> key);

// Opens a sealed tensor into `plain` (its size is the expected tensor size):
// every header must match `params`, the index and count, and every tag must
// verify. On any failure `plain` is zeroed and AUTH_FAILED returned.
[[nodiscard]] Status open_tensor(std::span<std::byte> plain, std::span<const std::byte> sealed,
                                 SealParams params, std::span<const std::uint8_t, kKeyBytes> key);

}  // namespace hix::vgpu
