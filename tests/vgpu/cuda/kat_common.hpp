// Known-answer vectors for the sealed-chunk format (spec §7.1), shared by the
// generator (gen_kat.cpp), the host unit tests and the GPU test: how each
// vector's key and plaintext are made, and an independent sealing written
// straight from the spec with libsodium's AEAD (not sealed_chunk.cpp's).
#pragma once

#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace hix::vgpu::cuda::kat {

struct Vector {
  std::uint64_t bytes;        // plaintext bytes
  std::uint8_t key_id;        // header key_id
  std::uint64_t tensor_id;    // header tensor_id / nonce
  std::uint8_t seed;          // key and plaintext pattern
  const char* sealed_sha256;  // SHA-256 of the whole sealed tensor, hex
  const char* tags;           // every chunk's tag in order, hex
  const char* sealed;         // the whole sealed tensor, hex (small vectors), else ""
};

// The vectors' parameters; the generator computes the answers.
struct Params {
  std::uint64_t bytes;
  std::uint8_t key_id;
  std::uint64_t tensor_id;
  std::uint8_t seed;
};

inline constexpr std::uint64_t kFullHexMax = 1000;  // vectors up to this size carry every byte

inline std::vector<std::uint8_t> key_for(std::uint8_t seed) {
  std::vector<std::uint8_t> k(32);
  for (std::size_t j = 0; j < k.size(); ++j)
    k[j] = static_cast<std::uint8_t>(std::size_t{seed} * 37u + j * 11u + 1u);
  return k;
}

inline std::vector<std::byte> plain_for(std::uint64_t bytes, std::uint8_t seed) {
  std::vector<std::byte> p(bytes);
  for (std::uint64_t i = 0; i < bytes; ++i) {
    p[i] = static_cast<std::byte>((i * 131u + (i >> 16) * 7u + seed) & 0xffu);
  }
  return p;
}

// Spec §7.1, written out field by field.
inline std::vector<std::byte> libsodium_seal(const std::vector<std::byte>& plain,
                                             std::uint8_t key_id, std::uint64_t tensor_id,
                                             const std::vector<std::uint8_t>& key) {
  constexpr std::uint64_t kChunk = 65536;
  constexpr std::uint64_t kStride = 32 + kChunk + 16;
  const std::uint64_t n = (plain.size() + kChunk - 1) / kChunk;
  const std::uint64_t last = plain.size() - (n - 1) * kChunk;
  std::vector<std::byte> out((n - 1) * kStride + 32 + last + 16);
  const auto put = [](unsigned char* at, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) at[i] = static_cast<unsigned char>(v >> (8 * i));
  };
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t len = i + 1 == n ? last : kChunk;
    // byte -> unsigned char views of the same objects, as libsodium takes them.
    auto* chunk = reinterpret_cast<unsigned char*>(out.data() + i * kStride);
    const auto* in = reinterpret_cast<const unsigned char*>(plain.data() + i * kChunk);
    put(chunk, 0x43535848u, 4);  // magic
    chunk[4] = 1;                // version
    chunk[5] = key_id;
    put(chunk + 6, 0, 2);  // reserved
    put(chunk + 8, tensor_id, 8);
    put(chunk + 16, i, 4);  // chunk_index
    put(chunk + 20, n, 4);  // chunk_count
    put(chunk + 24, plain.size(), 8);
    unsigned char nonce[12];
    put(nonce, i, 4);
    put(nonce + 4, tensor_id, 8);
    unsigned long long tag_len = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(chunk + 32, chunk + 32 + len, &tag_len, in,
                                                       len, chunk, 32, nullptr, nonce, key.data());
  }
  return out;
}

inline std::string to_hex(const void* p, std::size_t n) {
  std::string s(2 * n + 1, '\0');
  sodium_bin2hex(s.data(), s.size(), static_cast<const unsigned char*>(p), n);
  s.pop_back();
  return s;
}

inline std::string sha256_hex(const std::vector<std::byte>& v) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(v.data()), v.size());  // byte view
  return to_hex(h, sizeof h);
}

// Every chunk's tag, concatenated, as hex.
inline std::string tags_hex(const std::vector<std::byte>& sealed, std::uint64_t bytes) {
  constexpr std::uint64_t kChunk = 65536;
  constexpr std::uint64_t kStride = 32 + kChunk + 16;
  const std::uint64_t n = (bytes + kChunk - 1) / kChunk;
  std::string s;
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t len = i + 1 == n ? bytes - (n - 1) * kChunk : kChunk;
    s += to_hex(sealed.data() + i * kStride + 32 + len, 16);
  }
  return s;
}

}  // namespace hix::vgpu::cuda::kat
