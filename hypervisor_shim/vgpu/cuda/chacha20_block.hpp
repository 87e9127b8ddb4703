// The ChaCha20 block function (RFC 8439 §2.3) with the sealed-chunk nonce of
// spec §7.1: one 64-byte keystream block per call, all state in registers, so
// every GPU thread produces its own block independently.
#pragma once

#include <cstdint>

#include "hd.hpp"

namespace hix::vgpu::cuda {

inline constexpr std::uint32_t kChachaBlockBytes = 64;

// The 256-bit key as eight little-endian words.
struct ChachaKey {
  std::uint32_t w[8];
};

// The 96-bit IETF nonce as three little-endian words.
struct ChachaNonce {
  std::uint32_t w[3];
};

// Spec §7.1: chunk_index (4 bytes LE) followed by tensor_id (8 bytes LE).
HIX_HD ChachaNonce chunk_nonce(std::uint32_t chunk_index, std::uint64_t tensor_id) {
  return ChachaNonce{{chunk_index, static_cast<std::uint32_t>(tensor_id),
                      static_cast<std::uint32_t>(tensor_id >> 32)}};
}

HIX_HD std::uint32_t rotl32(std::uint32_t x, unsigned n) {
#if defined(__CUDA_ARCH__)
  return __funnelshift_l(x, x, n);
#else
  return (x << n) | (x >> (32u - n));
#endif
}

HIX_HD void chacha_quarter_round(std::uint32_t& a, std::uint32_t& b, std::uint32_t& c,
                                 std::uint32_t& d) {
  a += b;
  d = rotl32(d ^ a, 16);
  c += d;
  b = rotl32(b ^ c, 12);
  a += b;
  d = rotl32(d ^ a, 8);
  c += d;
  b = rotl32(b ^ c, 7);
}

// Keystream block `counter` for (key, nonce) as sixteen little-endian words.
HIX_HD void chacha20_block(const ChachaKey& key, std::uint32_t counter, const ChachaNonce& nonce,
                           std::uint32_t out[16]) {
  constexpr std::uint32_t kSigma[4] = {0x61707865u, 0x3320646eu, 0x79622d32u, 0x6b206574u};
  std::uint32_t x[16];
  HIX_UNROLL
  for (int i = 0; i < 4; ++i) x[i] = kSigma[i];
  HIX_UNROLL
  for (int i = 0; i < 8; ++i) x[4 + i] = key.w[i];
  x[12] = counter;
  x[13] = nonce.w[0];
  x[14] = nonce.w[1];
  x[15] = nonce.w[2];
  HIX_UNROLL
  for (int round = 0; round < 10; ++round) {
    chacha_quarter_round(x[0], x[4], x[8], x[12]);
    chacha_quarter_round(x[1], x[5], x[9], x[13]);
    chacha_quarter_round(x[2], x[6], x[10], x[14]);
    chacha_quarter_round(x[3], x[7], x[11], x[15]);
    chacha_quarter_round(x[0], x[5], x[10], x[15]);
    chacha_quarter_round(x[1], x[6], x[11], x[12]);
    chacha_quarter_round(x[2], x[7], x[8], x[13]);
    chacha_quarter_round(x[3], x[4], x[9], x[14]);
  }
  // The input words are re-derived rather than kept, which saves registers.
  HIX_UNROLL
  for (int i = 0; i < 4; ++i) out[i] = x[i] + kSigma[i];
  HIX_UNROLL
  for (int i = 0; i < 8; ++i) out[4 + i] = x[4 + i] + key.w[i];
  out[12] = x[12] + counter;
  out[13] = x[13] + nonce.w[0];
  out[14] = x[14] + nonce.w[1];
  out[15] = x[15] + nonce.w[2];
}

}  // namespace hix::vgpu::cuda
