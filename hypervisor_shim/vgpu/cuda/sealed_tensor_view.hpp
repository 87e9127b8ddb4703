// The kernels' view of one sealed tensor (SealedTensor, sealed_chunk_kernels.hpp)
// from what the CPU engine knows of it: its plaintext size, its seal
// parameters and its key. Host code only; the engine, its tests and its
// benchmark describe tensors to the kernels through it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "sealed_chunk.hpp"
#include "sealed_chunk_kernels.hpp"
#include "secret_key.hpp"

namespace hix::vgpu::cuda {

// Fills `t` for a tensor of `bytes` plaintext bytes (1 .. 2^40). `t` then
// carries the key: wipe it after use.
inline void describe_sealed_tensor(SealedTensor& t, std::uint64_t bytes, SealParams params,
                                   std::span<const std::uint8_t, kKeyBytes> key) {
  for (std::size_t i = 0; i < 8; ++i) {
    t.key.w[i] = static_cast<std::uint32_t>(key[4 * i]) |
                 static_cast<std::uint32_t>(key[4 * i + 1]) << 8 |
                 static_cast<std::uint32_t>(key[4 * i + 2]) << 16 |
                 static_cast<std::uint32_t>(key[4 * i + 3]) << 24;
  }
  const std::uint64_t chunks = sealed_chunk_count(bytes);  // <= 2^24: bytes <= 2^40
  t.tensor_id = params.tensor_id;
  t.bytes = bytes;
  t.chunks = static_cast<std::uint32_t>(chunks);
  t.last_len = static_cast<std::uint32_t>(bytes - (chunks - 1) * kChunkBytes);
  t.key_id = params.key_id;
}

}  // namespace hix::vgpu::cuda
