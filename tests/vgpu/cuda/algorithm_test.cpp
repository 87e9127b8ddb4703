// The GPU crypto engine's arithmetic, compiled for the host and run the way
// the kernels run it (lane by lane), against libsodium: no GPU needed, so CI
// checks the algorithm the kernels implement (sealed_chunk_kernels.cu).
#include <gtest/gtest.h>
#include <sodium.h>

#include <array>
#include <cstring>
#include <random>
#include <vector>

#include "chacha20_block.hpp"
#include "kat_common.hpp"
#include "poly1305_field.hpp"

namespace hix::vgpu::cuda {
namespace {

__extension__ typedef unsigned __int128 u128;  // test-side reference arithmetic only

std::mt19937_64& rng() {
  static std::mt19937_64 r(20251117);
  return r;
}

void random_bytes(void* p, std::size_t n) {
  auto* b = static_cast<unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<unsigned char>(rng()());
}

std::uint32_t le32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

ChachaKey key_words(const unsigned char* k) {
  ChachaKey key{};
  for (std::size_t i = 0; i < 8; ++i) key.w[i] = le32(k + 4 * i);
  return key;
}

// The lanes' sums v (32 * 2^k of them) combined as the kernels do: a tree
// within each warp of 32 (pairs with r^K, ... halves with r^16K), every lane
// computing as on the GPU (a shuffle past the warp's end returns the lane's
// own value), then the warps in `across` (k_pow[5] = r^32K unless given).
// k_pow: r^K, r^2K, ..., r^32K.
Fe lanes_tree(std::vector<Fe> v, const std::vector<Fe>& k_pow, const Fe* across = nullptr) {
  const std::size_t lanes = v.size();
  for (std::uint32_t level = 0; level < 5; ++level) {
    const std::size_t d = std::size_t{1} << level;
    std::vector<Fe> next(lanes);
    for (std::size_t lane = 0; lane < lanes; ++lane) {
      const std::size_t from = lane % 32 + d < 32 ? lane + d : lane;
      next[lane] = fe_mul_add(v[lane], k_pow[level], v[from]);
    }
    v = next;
  }
  Fe all = v[0];
  const Fe& f = across != nullptr ? *across : k_pow[5];
  for (std::size_t w = 1; w < lanes / 32; ++w) all = fe_mul_add(all, f, v[32 * w]);
  return all;
}

// Poly1305 as the MAC kernel computes it (poly1305_field.hpp): absent
// blocks in front, K consecutive blocks per lane by Horner's rule in the
// clamped r (base 2^32), then the lanes combined as a tree within each warp
// of 32 (pairs with r^K, ... halves with r^16K) and the warps in r^32K.
// `lanes` is 32 * 2^k; `block(i, w)` gives message block i's four words.
template <class Block>
std::array<std::uint32_t, 4> lane_split_poly1305(const std::uint32_t poly_key[8], std::uint32_t n,
                                                 std::uint32_t lanes, const Block& block) {
  const ClampedR r = clamped_r(poly_key);
  const std::uint32_t steps = lane_steps(n, lanes);
  const std::uint32_t pad = lane_padding(n, lanes);
  std::vector<Fe> k_pow(1, fe_pow(fe_clamped_r(poly_key), steps));
  while (k_pow.size() < 6) k_pow.push_back(fe_mul(k_pow.back(), k_pow.back()));
  std::vector<Fe> v(lanes);
  for (std::uint32_t lane = 0; lane < lanes; ++lane) {
    Fe32 h{{0, 0, 0, 0, 0}};
    for (std::uint32_t k = 0; k < steps; ++k) {
      const std::uint32_t q = lane * steps + k;
      if (q < pad) continue;
      std::uint32_t w[4];
      block(q - pad, w);
      fe32_horner(h, w, 1, r);
    }
    v[lane] = fe_from_fe32(h);
  }
  FeWide h{};
  fe_accumulate(h, lanes_tree(v, k_pow));
  std::array<std::uint32_t, 4> tag{};
  poly1305_finish(h, poly_key + 4, tag.data());
  return tag;
}

// The one-pass open kernel's MAC of a full chunk (poly1305_field.hpp, "One
// pass over a full chunk"): lane j of warp w takes keystream blocks
// 32 (w B + b) + j, B = 1024 / lanes, Horner by r over each one's four
// Poly1305 blocks (lane 0 over the header first at b = 0), folding them in as
// h r^128 + s; the lanes' tree as above with K = 4, the warps in r^(128 B);
// then the lengths block's step. `ct` is the chunk's 65536 ciphertext bytes.
std::array<std::uint32_t, 4> one_pass_full_chunk_tag(const std::uint32_t poly_key[8],
                                                     const std::array<std::uint32_t, 8>& hdr,
                                                     const unsigned char* ct, std::uint32_t lanes) {
  const ClampedR r = clamped_r(poly_key);
  const std::uint32_t lane_blocks = 1024 / lanes;
  std::vector<Fe> k_pow(1, fe_pow(fe_clamped_r(poly_key), kFullChunkLaneSteps));
  while (k_pow.size() < 6) k_pow.push_back(fe_mul(k_pow.back(), k_pow.back()));
  Fe across = k_pow[5];
  for (std::uint32_t k = 1; k < lane_blocks; k *= 2) across = fe_mul(across, across);
  std::vector<Fe> v(lanes);
  for (std::uint32_t lane = 0; lane < lanes; ++lane) {
    Fe h = fe_zero();
    for (std::uint32_t b = 0; b < lane_blocks; ++b) {
      const std::size_t block = (lane / 32) * 32 * lane_blocks + 32 * b + lane % 32;
      Fe32 sum{{0, 0, 0, 0, 0}};
      if (b == 0 && lane == 0) {
        fe32_horner(sum, hdr.data(), 1, r);
        fe32_horner(sum, hdr.data() + 4, 1, r);
      }
      for (std::size_t u = 0; u < 4; ++u) {
        std::uint32_t w[4];
        for (std::size_t i = 0; i < 4; ++i) w[i] = le32(ct + 16 * (4 * block + u) + 4 * i);
        fe32_horner(sum, w, 1, r);
      }
      h = b == 0 ? fe_from_fe32(sum) : fe_mul_add(h, k_pow[5], fe_from_fe32(sum));
    }
    v[lane] = h;
  }
  FeWide h{};
  fe_accumulate(h, full_chunk_mac_close(lanes_tree(v, k_pow, &across), poly_key));
  std::array<std::uint32_t, 4> tag{};
  poly1305_finish(h, poly_key + 4, tag.data());
  return tag;
}

std::array<std::uint32_t, 4> tag_words(const unsigned char* t) {
  return {le32(t), le32(t + 4), le32(t + 8), le32(t + 12)};
}

TEST(GpuAlgorithm, ChachaBlockMatchesLibsodium) {
  for (int iter = 0; iter < 200; ++iter) {
    unsigned char key[32];
    unsigned char nonce[12];
    random_bytes(key, sizeof key);
    random_bytes(nonce, sizeof nonce);
    const auto counter = static_cast<std::uint32_t>(
        iter < 100 ? rng()() : 0xffffffffu - static_cast<std::uint32_t>(iter));
    unsigned char want[64] = {};
    crypto_stream_chacha20_ietf_xor_ic(want, want, sizeof want, nonce, counter, key);
    std::uint32_t got[16];
    chacha20_block(key_words(key), counter,
                   ChachaNonce{{le32(nonce), le32(nonce + 4), le32(nonce + 8)}}, got);
    for (std::size_t i = 0; i < 16; ++i) ASSERT_EQ(got[i], le32(want + 4 * i)) << "word " << i;
  }
}

// r^e by square and multiply, against repeated multiplication.
TEST(GpuAlgorithm, PowerMatchesRepeatedProducts) {
  std::uint32_t w[4];
  random_bytes(w, sizeof w);
  const Fe r = fe_clamped_r(w);
  Fe want = r;
  for (std::uint32_t e = 1; e <= 70; ++e) {
    FeWide a{};
    FeWide b{};
    fe_accumulate(a, fe_pow(r, e));
    fe_accumulate(b, want);
    const std::uint32_t zero[4] = {};
    std::uint32_t ta[4];
    std::uint32_t tb[4];
    poly1305_finish(a, zero, ta);
    poly1305_finish(b, zero, tb);
    ASSERT_EQ(0, std::memcmp(ta, tb, sizeof ta)) << "e=" << e;
    want = fe_mul(want, r);
  }
}

TEST(GpuAlgorithm, ChunkNonceIsIndexThenTensorId) {
  const ChachaNonce n = chunk_nonce(0x01020304u, 0x1112131415161718u);
  EXPECT_EQ(n.w[0], 0x01020304u);
  EXPECT_EQ(n.w[1], 0x15161718u);
  EXPECT_EQ(n.w[2], 0x11121314u);
}

// Random messages of whole blocks (the AEAD message always is), lane counts 32 * 2^k.
TEST(GpuAlgorithm, LaneSplitPoly1305MatchesLibsodium) {
  const std::uint32_t lane_counts[] = {32, 64, 128, 256};
  for (int iter = 0; iter < 60; ++iter) {
    const std::uint32_t n = iter < 10 ? static_cast<std::uint32_t>(iter + 1)
                                      : static_cast<std::uint32_t>(rng()() % 5000 + 1);
    std::vector<unsigned char> msg(16 * static_cast<std::size_t>(n));
    random_bytes(msg.data(), msg.size());
    unsigned char key[32];
    random_bytes(key, sizeof key);
    unsigned char want[16];
    crypto_onetimeauth_poly1305(want, msg.data(), msg.size(), key);
    std::uint32_t kw[8];
    for (std::size_t i = 0; i < 8; ++i) kw[i] = le32(key + 4 * i);
    for (const std::uint32_t lanes : lane_counts) {
      const auto got = lane_split_poly1305(kw, n, lanes, [&](std::uint32_t i, std::uint32_t w[4]) {
        for (std::size_t k = 0; k < 4; ++k) w[k] = le32(msg.data() + 16 * std::size_t{i} + 4 * k);
      });
      ASSERT_EQ(got, tag_words(want)) << "n=" << n << " lanes=" << lanes;
    }
  }
}

// A Poly1305 key at the limb bounds: r all 0xff (the largest r after
// clamping) and s all `fill`, as bytes and as the kernels' little-endian words.
struct LimbBoundKey {
  unsigned char bytes[32];
  std::uint32_t words[8];
  explicit LimbBoundKey(int fill) {
    std::memset(bytes, 0xff, 16);
    std::memset(bytes + 16, fill, 16);
    for (std::size_t i = 0; i < 8; ++i) words[i] = le32(bytes + 4 * i);
  }
};

// The limb bounds' worst case: every message byte 0xff and the largest
// clamped r, over a full chunk's worth of blocks.
TEST(GpuAlgorithm, LaneSplitPoly1305AtTheLimbBounds) {
  const std::uint32_t n = 4099;
  std::vector<unsigned char> msg(16 * std::size_t{n}, 0xff);
  for (const int fill : {0xff, 0x00, 0xfb}) {
    const LimbBoundKey key(fill);
    unsigned char want[16];
    crypto_onetimeauth_poly1305(want, msg.data(), msg.size(), key.bytes);
    const std::uint32_t* kw = key.words;
    for (const std::uint32_t lanes : {32u, 128u, 256u}) {
      const auto got = lane_split_poly1305(kw, n, lanes, [&](std::uint32_t i, std::uint32_t w[4]) {
        for (std::size_t k = 0; k < 4; ++k) w[k] = le32(msg.data() + 16 * std::size_t{i} + 4 * k);
      });
      ASSERT_EQ(got, tag_words(want)) << "lanes=" << lanes;
    }
  }
}

// poly1305_finish against 130-bit reference arithmetic, around p.
TEST(GpuAlgorithm, FinishReducesModPAndAddsS) {
  const u128 two64 = static_cast<u128>(1) << 64;
  // h as (hi, lo) = hi * 2^128 + lo with hi < 4: values below 2^130.
  const auto check = [&](std::uint64_t hi, u128 lo, const std::uint32_t s[4]) {
    FeWide acc{};
    // Limbs of h (26 bits each); the top limb takes bits 104..129.
    for (int i = 0; i < 4; ++i) acc.l[i] = static_cast<std::uint64_t>(lo >> (26 * i)) & kLimbMask;
    acc.l[4] = static_cast<std::uint64_t>(lo >> 104) | (hi << 24);
    // Reference: h mod p, then + s mod 2^128.
    // p = 2^130 - 5: h >= p iff hi == 3 and lo >= 2^128 - 5.
    u128 r = lo;
    if (hi == 3 && lo >= static_cast<u128>(0) - 5) r = lo + 5;  // h - p = lo + 5 - 2^128 (wraps)
    const u128 sv = static_cast<u128>(s[0]) | static_cast<u128>(s[1]) << 32 |
                    static_cast<u128>(s[2]) << 64 | static_cast<u128>(s[3]) << 96;
    const u128 want = r + sv;
    std::uint32_t tag[4];
    poly1305_finish(acc, s, tag);
    for (int i = 0; i < 4; ++i) {
      ASSERT_EQ(tag[i], static_cast<std::uint32_t>(want >> (32 * i))) << "hi=" << hi << " i=" << i;
    }
  };
  const std::uint32_t s0[4] = {0, 0, 0, 0};
  const std::uint32_t s1[4] = {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};
  const u128 max128 = ~static_cast<u128>(0);
  for (const auto* s : {s0, s1}) {
    check(0, 0, s);
    check(0, 1, s);
    check(3, max128 - 5, s);  // p - 1
    check(3, max128 - 4, s);  // p
    check(3, max128 - 3, s);  // p + 1
    check(3, max128, s);      // 2^130 - 1
    check(1, two64, s);
  }
  // Unnormalised sums (wide limbs) equal to the same value must agree.
  FeWide wide{};
  wide.l[0] = (static_cast<std::uint64_t>(1) << 40) + 7;  // = 2^40 + 7 spread over limb 0
  FeWide norm{};
  norm.l[0] = 7;
  norm.l[1] = static_cast<std::uint64_t>(1) << 14;
  std::uint32_t a[4];
  std::uint32_t b[4];
  poly1305_finish(wide, s1, a);
  poly1305_finish(norm, s1, b);
  EXPECT_EQ(0, std::memcmp(a, b, sizeof a));
}

// The whole chunk MAC (header, padded ciphertext, lengths) as the kernel
// builds it, against the tags libsodium's AEAD wrote.
TEST(GpuAlgorithm, ChunkMacMatchesLibsodiumAead) {
  const std::uint64_t sizes[] = {1,  15,   16,    17,    31,    33,
                                 64, 1000, 65535, 65536, 65537, 3 * 65536 + 77};
  for (const std::uint64_t bytes : sizes) {
    std::vector<std::byte> plain(bytes);
    random_bytes(plain.data(), plain.size());
    std::vector<std::uint8_t> key(32);
    random_bytes(key.data(), key.size());
    const auto key_id = static_cast<std::uint8_t>(rng()());
    const std::uint64_t tensor_id = rng()();
    auto sealed = kat::libsodium_seal(plain, key_id, tensor_id, key);
    const auto chunks = static_cast<std::uint32_t>((bytes + 65535) / 65536);
    for (std::uint32_t c = 0; c < chunks; ++c) {
      const auto ct_len =
          static_cast<std::uint32_t>(c + 1 == chunks ? bytes - c * 65536ull : 65536);
      const std::byte* chunk = sealed.data() + c * 65584ull;
      std::uint32_t hdr[8];
      chunk_header_words({.key_id = key_id,
                          .tensor_id = tensor_id,
                          .index = c,
                          .count = chunks,
                          .tensor_bytes = bytes},
                         hdr);
      std::uint32_t stored_hdr[8];
      std::memcpy(stored_hdr, chunk, sizeof stored_hdr);
      ASSERT_EQ(0, std::memcmp(hdr, stored_hdr, sizeof hdr)) << "header words, chunk " << c;
      std::uint32_t ks[16];
      chacha20_block(key_words(key.data()), 0, chunk_nonce(c, tensor_id), ks);
      const ChunkMacShape shape = chunk_mac_shape(ct_len);
      const std::uint32_t n = shape.blocks;
      const auto load16 = [chunk](std::uint32_t i, std::uint32_t w[4]) {
        std::memcpy(w, chunk + 16 * static_cast<std::size_t>(i), 16);
      };
      // 64 and 256: the one-pass kernel's split of a partial chunk, too.
      for (const std::uint32_t lanes : {32u, 64u, 128u, 256u}) {
        const auto got =
            lane_split_poly1305(ks, n, lanes, [&](std::uint32_t i, std::uint32_t w[4]) {
              chunk_mac_block(i, shape, hdr, load16, w);
            });
        const auto* tag = reinterpret_cast<const unsigned char*>(chunk + 32 + ct_len);  // byte view
        ASSERT_EQ(got, tag_words(tag)) << "bytes=" << bytes << " chunk=" << c << " lanes=" << lanes;
      }
    }
  }
}

// The one-pass open's split of a full chunk, for every lane count with two
// keystream blocks a lane at least (the kernel is built for 64 to 512),
// against the tags libsodium's AEAD wrote.
TEST(GpuAlgorithm, OnePassFullChunkMacMatchesLibsodiumAead) {
  const std::uint64_t bytes = 3 * 65536 + 4321;  // three full chunks and a partial one
  std::vector<std::byte> plain(bytes);
  random_bytes(plain.data(), plain.size());
  std::vector<std::uint8_t> key(32);
  random_bytes(key.data(), key.size());
  const auto key_id = static_cast<std::uint8_t>(rng()());
  const std::uint64_t tensor_id = rng()();
  const auto sealed = kat::libsodium_seal(plain, key_id, tensor_id, key);
  for (std::uint32_t c = 0; c < 3; ++c) {
    const auto* chunk = reinterpret_cast<const unsigned char*>(sealed.data() + c * 65584ull);
    std::array<std::uint32_t, 8> hdr{};
    chunk_header_words(
        {.key_id = key_id, .tensor_id = tensor_id, .index = c, .count = 4, .tensor_bytes = bytes},
        hdr.data());
    std::uint32_t ks[16];
    chacha20_block(key_words(key.data()), 0, chunk_nonce(c, tensor_id), ks);
    for (const std::uint32_t lanes : {32u, 64u, 128u, 256u, 512u}) {
      ASSERT_EQ(one_pass_full_chunk_tag(ks, hdr, chunk + 32, lanes), tag_words(chunk + 32 + 65536))
          << "chunk=" << c << " lanes=" << lanes;
    }
  }
}

// The same at the limb bounds: header and ciphertext all 0xff, the largest
// clamped r, against Poly1305 of the AEAD message built by hand.
TEST(GpuAlgorithm, OnePassFullChunkMacAtTheLimbBounds) {
  std::vector<unsigned char> msg(32 + 65536 + 16, 0xff);
  const std::uint32_t lengths[4] = {32, 0, 65536, 0};
  std::memcpy(msg.data() + 32 + 65536, lengths, sizeof lengths);  // little-endian host
  std::array<std::uint32_t, 8> hdr{};
  std::memcpy(hdr.data(), msg.data(), sizeof hdr);
  for (const int fill : {0xff, 0x00, 0xfb}) {
    const LimbBoundKey key(fill);
    unsigned char want[16];
    crypto_onetimeauth_poly1305(want, msg.data(), msg.size(), key.bytes);
    const std::uint32_t* kw = key.words;
    for (const std::uint32_t lanes : {64u, 128u, 256u, 512u}) {
      ASSERT_EQ(one_pass_full_chunk_tag(kw, hdr, msg.data() + 32, lanes), tag_words(want))
          << "lanes=" << lanes << " fill=" << fill;
    }
  }
}

}  // namespace
}  // namespace hix::vgpu::cuda
