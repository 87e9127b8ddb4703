// Poly1305 (RFC 8439 §2.5) split across parallel lanes, and the message the
// sealed-chunk AEAD authenticates (RFC 8439 §2.8, spec §7.1).
//
// A message of n 16-byte blocks m_0..m_(n-1) has the tag
//   h = sum_i m_i * r^(n-i)  (mod p = 2^130 - 5),  tag = (h + s) mod 2^128.
// Split across L lanes (L = 32 * 2^k): put P = K*L - n absent (zero) blocks in
// front, K = ceil(n / L), so that padded position q holds block q - P. Lane j
// takes the K consecutive positions [jK, (j+1)K) and runs Poly1305's own
// Horner rule on them, h = (h + m) * r, which gives
//   a_j = sum_q m_(q-P) * r^((j+1)K - q),   and   h = sum_j a_j * r^(K(L-1-j))
// because n - i = (j+1)K - q + K(L-1-j). The last sum is Horner's rule over
// the lanes in r^K, done as a tree (pairs with r^K, quads with r^2K, up to
// whole warps with r^16K, then warps in r^32K).
//
// Two representations. The lanes' Horner steps multiply by the clamped r, in
// base 2^32 (Fe32: 16 wide products a block, as OpenSSL's 32-bit Poly1305):
// clamping keeps r's words below 2^28 so sums of products fit 64 bits, and
// clears the low two bits of r1..r3 so 5/4 * r_i is exact. The powers of r
// are not clamped, so the tree multiplies in five 26-bit limbs (Fe, as
// poly1305-donna-32; 25 wide products). Limb bounds for Fe: fe_mul and
// fe_mul_add take limbs below 2^27 + 2^10 and return limbs below 2^26 + 2^10;
// products with 5*limb (< 2^29) sum to under 2^58.
#pragma once

#include <cstdint>

#include "hd.hpp"

namespace hix::vgpu::cuda {

inline constexpr std::uint32_t kPolyBlockBytes = 16;
inline constexpr std::uint32_t kLimbMask = 0x3ffffffu;

struct Fe {
  std::uint32_t l[5];
};

struct FeWide {
  std::uint64_t l[5];
};

HIX_HD Fe fe_zero() {
  return Fe{{0, 0, 0, 0, 0}};
}

// A full 16-byte message block (four little-endian words) plus 2^128.
HIX_HD Fe fe_from_block(const std::uint32_t w[4]) {
  return Fe{{w[0] & kLimbMask, ((w[0] >> 26) | (w[1] << 6)) & kLimbMask,
             ((w[1] >> 20) | (w[2] << 12)) & kLimbMask, ((w[2] >> 14) | (w[3] << 18)) & kLimbMask,
             (w[3] >> 8) | (1u << 24)}};
}

// r from the first 16 bytes of the one-time key, clamped (RFC 8439 §2.5).
HIX_HD Fe fe_clamped_r(const std::uint32_t w[4]) {
  return Fe{{w[0] & 0x3ffffffu, ((w[0] >> 26) | (w[1] << 6)) & 0x3ffff03u,
             ((w[1] >> 20) | (w[2] << 12)) & 0x3ffc0ffu, ((w[2] >> 14) | (w[3] << 18)) & 0x3f03fffu,
             (w[3] >> 8) & 0x00fffffu}};
}

HIX_HD std::uint64_t mul_wide(std::uint32_t a, std::uint32_t b) {
  return static_cast<std::uint64_t>(a) * b;
}

// a * b + c mod p, partially reduced (limbs below 2^26 + 2^10); c's limbs
// are added before the carries, so the result is as reduced as a product.
HIX_HD Fe fe_mul_add(const Fe& a, const Fe& b, const Fe& c) {
  const std::uint32_t s1 = b.l[1] * 5u;
  const std::uint32_t s2 = b.l[2] * 5u;
  const std::uint32_t s3 = b.l[3] * 5u;
  const std::uint32_t s4 = b.l[4] * 5u;
  std::uint64_t d0 = mul_wide(a.l[0], b.l[0]) + mul_wide(a.l[1], s4) + mul_wide(a.l[2], s3) +
                     mul_wide(a.l[3], s2) + mul_wide(a.l[4], s1) + c.l[0];
  std::uint64_t d1 = mul_wide(a.l[0], b.l[1]) + mul_wide(a.l[1], b.l[0]) + mul_wide(a.l[2], s4) +
                     mul_wide(a.l[3], s3) + mul_wide(a.l[4], s2) + c.l[1];
  std::uint64_t d2 = mul_wide(a.l[0], b.l[2]) + mul_wide(a.l[1], b.l[1]) +
                     mul_wide(a.l[2], b.l[0]) + mul_wide(a.l[3], s4) + mul_wide(a.l[4], s3) +
                     c.l[2];
  std::uint64_t d3 = mul_wide(a.l[0], b.l[3]) + mul_wide(a.l[1], b.l[2]) +
                     mul_wide(a.l[2], b.l[1]) + mul_wide(a.l[3], b.l[0]) + mul_wide(a.l[4], s4) +
                     c.l[3];
  std::uint64_t d4 = mul_wide(a.l[0], b.l[4]) + mul_wide(a.l[1], b.l[3]) +
                     mul_wide(a.l[2], b.l[2]) + mul_wide(a.l[3], b.l[1]) +
                     mul_wide(a.l[4], b.l[0]) + c.l[4];
  Fe r;
  d1 += d0 >> 26;
  r.l[0] = static_cast<std::uint32_t>(d0) & kLimbMask;
  d2 += d1 >> 26;
  r.l[1] = static_cast<std::uint32_t>(d1) & kLimbMask;
  d3 += d2 >> 26;
  r.l[2] = static_cast<std::uint32_t>(d2) & kLimbMask;
  d4 += d3 >> 26;
  r.l[3] = static_cast<std::uint32_t>(d3) & kLimbMask;
  r.l[4] = static_cast<std::uint32_t>(d4) & kLimbMask;
  const std::uint64_t t = r.l[0] + (d4 >> 26) * 5u;
  r.l[0] = static_cast<std::uint32_t>(t) & kLimbMask;
  r.l[1] += static_cast<std::uint32_t>(t >> 26);
  return r;
}

// a * b mod p, partially reduced (limbs below 2^26 + 2^10).
HIX_HD Fe fe_mul(const Fe& a, const Fe& b) {
  return fe_mul_add(a, b, fe_zero());
}

// r^e for e >= 1 (square and multiply).
HIX_HD Fe fe_pow(const Fe& r, std::uint32_t e) {
  Fe result = r;
  Fe base = r;
  for (e -= 1; e != 0; e >>= 1) {
    if ((e & 1u) != 0) result = fe_mul(result, base);
    if (e > 1) base = fe_mul(base, base);
  }
  return result;
}

// --- Base 2^32, for Horner steps by the clamped r ---

// h = w0 + w1 2^32 + w2 2^64 + w3 2^96 + w4 2^128, w4 small (at most 6).
struct Fe32 {
  std::uint32_t w[5];
};

// The clamped r as words, with s_i = r_i + (r_i >> 2) = 5/4 * r_i.
struct ClampedR {
  std::uint32_t r[4];
  std::uint32_t s[3];  // s1, s2, s3
};

HIX_HD ClampedR clamped_r(const std::uint32_t w[4]) {
  const std::uint32_t r0 = w[0] & 0x0fffffffu;
  const std::uint32_t r1 = w[1] & 0x0ffffffcu;
  const std::uint32_t r2 = w[2] & 0x0ffffffcu;
  const std::uint32_t r3 = w[3] & 0x0ffffffcu;
  return ClampedR{{r0, r1, r2, r3}, {r1 + (r1 >> 2), r2 + (r2 >> 2), r3 + (r3 >> 2)}};
}

// h = (h + m + hibit * 2^128) * r, partially reduced (w4 <= 4 on return).
// Bounds: h's words below 2^32 and w4 <= 6 after the addition; r_i < 2^28, so
// every sum of products stays below 2^63.
HIX_HD void fe32_horner(Fe32& h, const std::uint32_t m[4], std::uint32_t hibit, const ClampedR& k) {
  std::uint64_t d0 = static_cast<std::uint64_t>(h.w[0]) + m[0];
  std::uint64_t d1 = static_cast<std::uint64_t>(h.w[1]) + (d0 >> 32) + m[1];
  std::uint64_t d2 = static_cast<std::uint64_t>(h.w[2]) + (d1 >> 32) + m[2];
  std::uint64_t d3 = static_cast<std::uint64_t>(h.w[3]) + (d2 >> 32) + m[3];
  const auto h0 = static_cast<std::uint32_t>(d0);
  const auto h1 = static_cast<std::uint32_t>(d1);
  const auto h2 = static_cast<std::uint32_t>(d2);
  const auto h3 = static_cast<std::uint32_t>(d3);
  std::uint32_t h4 = h.w[4] + static_cast<std::uint32_t>(d3 >> 32) + hibit;
  // Terms at 2^128 and above fold down through 2^130 = 5 (mod p): 2^128 * r_i
  // at word i is 5/4 * r_i = s_i one word lower.
  const std::uint32_t t1 = h4 * k.s[0];  // below 2^31: h4 <= 6
  const std::uint32_t t2 = h4 * k.s[1];
  const std::uint32_t t3 = h4 * k.s[2];
  d0 = mul_wide(h0, k.r[0]) + mul_wide(h1, k.s[2]) + mul_wide(h2, k.s[1]) + mul_wide(h3, k.s[0]);
  d1 = mul_wide(h0, k.r[1]) + mul_wide(h1, k.r[0]) + mul_wide(h2, k.s[2]) + mul_wide(h3, k.s[1]) +
       t1;
  d2 = mul_wide(h0, k.r[2]) + mul_wide(h1, k.r[1]) + mul_wide(h2, k.r[0]) + mul_wide(h3, k.s[2]) +
       t2;
  d3 = mul_wide(h0, k.r[3]) + mul_wide(h1, k.r[2]) + mul_wide(h2, k.r[1]) + mul_wide(h3, k.r[0]) +
       t3;
  h4 *= k.r[0];
  d1 += d0 >> 32;
  d2 += d1 >> 32;
  d3 += d2 >> 32;
  h4 += static_cast<std::uint32_t>(d3 >> 32);
  // Bits 130 and up, times 5, back to the bottom.
  const std::uint32_t c = (h4 >> 2) + (h4 & ~3u);
  std::uint64_t t = static_cast<std::uint64_t>(static_cast<std::uint32_t>(d0)) + c;
  h.w[0] = static_cast<std::uint32_t>(t);
  t = static_cast<std::uint64_t>(static_cast<std::uint32_t>(d1)) + (t >> 32);
  h.w[1] = static_cast<std::uint32_t>(t);
  t = static_cast<std::uint64_t>(static_cast<std::uint32_t>(d2)) + (t >> 32);
  h.w[2] = static_cast<std::uint32_t>(t);
  t = static_cast<std::uint64_t>(static_cast<std::uint32_t>(d3)) + (t >> 32);
  h.w[3] = static_cast<std::uint32_t>(t);
  h.w[4] = (h4 & 3u) + static_cast<std::uint32_t>(t >> 32);
}

// The same step as fe32_horner, on the GPU in PTX carry chains, for the MAC
// kernel's lanes (verify and seal): nvcc compiles fe32_horner's 64-bit
// products from zero-extended words as 64-bit multiplies (with additions of
// zero high words) and its carries as separate add pairs; here each product
// is one wide multiply-add into its column and each carry chain one add a
// word (bounds as fe32_horner's: every column's high word stays below 2^31).
// Measured on an H100 (docs/decisions.md, 2026-12-07, tenth session): with
// it and padded_lane_sum's whole-block path the verify kernel ran 1961 GB/s
// against 1827 at 1 GiB; the one-pass open kernel, whose threads also run
// ChaCha20 within 64 registers, fell from 779 to 466 with it, so it keeps
// fe32_horner.
HIX_HD void fe32_horner_chains(Fe32& h, const std::uint32_t m[4], std::uint32_t hibit,
                               const ClampedR& k) {
#if defined(__CUDA_ARCH__)
  std::uint32_t h0, h1, h2, h3, h4;
  asm("add.cc.u32 %0, %5, %10;\n\t"
      "addc.cc.u32 %1, %6, %11;\n\t"
      "addc.cc.u32 %2, %7, %12;\n\t"
      "addc.cc.u32 %3, %8, %13;\n\t"
      "addc.u32 %4, %9, %14;"
      : "=r"(h0), "=r"(h1), "=r"(h2), "=r"(h3), "=r"(h4)
      : "r"(h.w[0]), "r"(h.w[1]), "r"(h.w[2]), "r"(h.w[3]), "r"(h.w[4]), "r"(m[0]), "r"(m[1]),
        "r"(m[2]), "r"(m[3]), "r"(hibit));
  // Column i as (lo[i], hi[i]); columns 1-3 start from h4 * s_i (below 2^31).
  std::uint32_t lo[4] = {0, 0, 0, 0};
  std::uint32_t hi[4] = {0, 0, 0, 0};
  const std::uint32_t a[4] = {h0, h1, h2, h3};
  // b[i][j]: the factor of a[j] in column i (s_j for the terms folded from 2^128 up).
  const std::uint32_t b[4][4] = {{k.r[0], k.s[2], k.s[1], k.s[0]},
                                 {k.r[1], k.r[0], k.s[2], k.s[1]},
                                 {k.r[2], k.r[1], k.r[0], k.s[2]},
                                 {k.r[3], k.r[2], k.r[1], k.r[0]}};
  HIX_UNROLL
  for (int i = 1; i < 4; ++i) {
    asm("mul.lo.u32 %0, %2, %3;\n\tmul.hi.u32 %1, %2, %3;"
        : "=r"(lo[i]), "=r"(hi[i])
        : "r"(h4), "r"(k.s[i - 1]));
  }
  HIX_UNROLL
  for (int i = 0; i < 4; ++i) {
    HIX_UNROLL
    for (int j = 0; j < 4; ++j) {
      asm("mad.lo.cc.u32 %0, %2, %3, %0;\n\tmadc.hi.u32 %1, %2, %3, %1;"
          : "+r"(lo[i]), "+r"(hi[i])
          : "r"(a[j]), "r"(b[i][j]));
    }
  }
  // Carries between the columns in one chain; x: the bits from 2^128 up.
  std::uint32_t x;
  asm("add.cc.u32 %0, %0, %4;\n\t"
      "addc.cc.u32 %1, %1, %5;\n\t"
      "addc.cc.u32 %2, %2, %6;\n\t"
      "addc.u32 %3, %7, %8;"
      : "+r"(lo[1]), "+r"(lo[2]), "+r"(lo[3]), "=r"(x)
      : "r"(hi[0]), "r"(hi[1]), "r"(hi[2]), "r"(hi[3]), "r"(h4 * k.r[0]));
  // x = 4q + (x & 3): 2^128 x = 5q + 2^128 (x & 3) (mod p), on the multiply-add
  // pipe (q = x >> 2 as a high product).
  std::uint32_t q;
  asm("mul.hi.u32 %0, %1, 0x40000000;" : "=r"(q) : "r"(x));
  asm("add.cc.u32 %0, %5, %9;\n\t"
      "addc.cc.u32 %1, %6, 0;\n\t"
      "addc.cc.u32 %2, %7, 0;\n\t"
      "addc.cc.u32 %3, %8, 0;\n\t"
      "addc.u32 %4, %10, 0;"
      : "=r"(h.w[0]), "=r"(h.w[1]), "=r"(h.w[2]), "=r"(h.w[3]), "=r"(h.w[4])
      : "r"(lo[0]), "r"(lo[1]), "r"(lo[2]), "r"(lo[3]), "r"(5u * q), "r"(x - 4u * q));
#else
  fe32_horner(h, m, hibit, k);
#endif
}

// The same value in 26-bit limbs (limbs below 2^26, the top one below 2^27).
HIX_HD Fe fe_from_fe32(const Fe32& h) {
  return Fe{{h.w[0] & kLimbMask, ((h.w[0] >> 26) | (h.w[1] << 6)) & kLimbMask,
             ((h.w[1] >> 20) | (h.w[2] << 12)) & kLimbMask,
             ((h.w[2] >> 14) | (h.w[3] << 18)) & kLimbMask, (h.w[3] >> 8) | (h.w[4] << 24)}};
}

HIX_HD void fe_accumulate(FeWide& acc, const Fe& a) {
  HIX_UNROLL
  for (int i = 0; i < 5; ++i) acc.l[i] += a.l[i];
}

// (h mod p + s) mod 2^128 as four little-endian words; h is any sum of
// partially reduced values below 2^63 per limb. Constant time.
HIX_HD void poly1305_finish(const FeWide& acc, const std::uint32_t s[4], std::uint32_t tag[4]) {
  std::uint64_t h[5] = {acc.l[0], acc.l[1], acc.l[2], acc.l[3], acc.l[4]};
  // Three carry passes leave every limb below 2^26, so h < 2^130 < 2p.
  HIX_UNROLL
  for (int pass = 0; pass < 3; ++pass) {
    std::uint64_t c = 0;
    HIX_UNROLL
    for (int i = 0; i < 5; ++i) {
      h[i] += c;
      c = h[i] >> 26;
      h[i] &= kLimbMask;
    }
    h[0] += c * 5u;
  }
  // g = h + 5 - 2^130 = h - p; take it when it does not borrow (h >= p).
  std::uint64_t g[5];
  std::uint64_t c = 5;
  HIX_UNROLL
  for (int i = 0; i < 5; ++i) {
    g[i] = h[i] + c;
    c = g[i] >> 26;
    g[i] &= kLimbMask;
  }
  const std::uint64_t take_g = 0 - c;  // all ones when g >= 2^130, i.e. h >= p
  HIX_UNROLL
  for (int i = 0; i < 5; ++i) h[i] = (g[i] & take_g) | (h[i] & ~take_g);
  const std::uint64_t w0 = (h[0] | (h[1] << 26)) & 0xffffffffu;
  const std::uint64_t w1 = ((h[1] >> 6) | (h[2] << 20)) & 0xffffffffu;
  const std::uint64_t w2 = ((h[2] >> 12) | (h[3] << 14)) & 0xffffffffu;
  const std::uint64_t w3 = ((h[3] >> 18) | (h[4] << 8)) & 0xffffffffu;
  std::uint64_t f = w0 + s[0];
  tag[0] = static_cast<std::uint32_t>(f);
  f = w1 + s[1] + (f >> 32);
  tag[1] = static_cast<std::uint32_t>(f);
  f = w2 + s[2] + (f >> 32);
  tag[2] = static_cast<std::uint32_t>(f);
  f = w3 + s[3] + (f >> 32);
  tag[3] = static_cast<std::uint32_t>(f);
}

// Horner steps per lane, K = ceil(n / lanes), for a message of n blocks.
HIX_HD std::uint32_t lane_steps(std::uint32_t n, std::uint32_t lanes) {
  return (n + lanes - 1) / lanes;
}

// Absent blocks in front, P = K * lanes - n.
HIX_HD std::uint32_t lane_padding(std::uint32_t n, std::uint32_t lanes) {
  return lane_steps(n, lanes) * lanes - n;
}

// --- The sealed-chunk MAC message (RFC 8439 §2.8 with a 32-byte AAD) ---
// Blocks 0-1: the chunk header (AAD, 32 bytes, no padding needed);
// blocks 2 .. n-2: the ciphertext, the last one zero-padded;
// block n-1: le64(32) || le64(ciphertext length).
// In the sealed layout the ciphertext starts 32 bytes into the chunk, so
// ciphertext block i (2 <= i < n-1) lies at chunk offset 16*i.

inline constexpr std::uint32_t kChunkAadBytes = 32;

HIX_HD std::uint32_t chunk_mac_blocks(std::uint32_t ct_len) {
  return 3 + (ct_len + kPolyBlockBytes - 1) / kPolyBlockBytes;
}

// A chunk's MAC input: `blocks` blocks over `ct_len` ciphertext bytes.
struct ChunkMacShape {
  std::uint32_t blocks = 0;
  std::uint32_t ct_len = 0;
};

HIX_HD ChunkMacShape chunk_mac_shape(std::uint32_t ct_len) {
  ChunkMacShape shape;
  shape.blocks = chunk_mac_blocks(ct_len);
  shape.ct_len = ct_len;
  return shape;
}

// The fields of a chunk header (spec §7.1): chunk `index` of `count` of
// tensor `tensor_id`, `tensor_bytes` plaintext bytes in all.
struct ChunkHeaderFields {
  std::uint8_t key_id = 0;
  std::uint64_t tensor_id = 0;
  std::uint32_t index = 0;
  std::uint32_t count = 0;
  std::uint64_t tensor_bytes = 0;
};

// The eight little-endian words of the chunk header (spec §7.1).
HIX_HD void chunk_header_words(const ChunkHeaderFields& f, std::uint32_t w[8]) {
  w[0] = 0x43535848u;                                       // magic "HXSC"
  w[1] = 1u | (static_cast<std::uint32_t>(f.key_id) << 8);  // version 1, key_id, reserved 0
  w[2] = static_cast<std::uint32_t>(f.tensor_id);
  w[3] = static_cast<std::uint32_t>(f.tensor_id >> 32);
  w[4] = f.index;
  w[5] = f.count;
  w[6] = static_cast<std::uint32_t>(f.tensor_bytes);
  w[7] = static_cast<std::uint32_t>(f.tensor_bytes >> 32);
}

// Words of MAC block i (< shape.blocks) of a chunk with shape.ct_len
// ciphertext bytes.
// `load16(i)` returns the 16 sealed bytes at chunk offset 16*i as words; in a
// partial last ciphertext block the bytes past the ciphertext (the start of
// the tag) are masked to zero here.
template <class Load16>
HIX_HD void chunk_mac_block(std::uint32_t i, ChunkMacShape shape, const std::uint32_t hdr[8],
                            const Load16& load16, std::uint32_t w[4]) {
  const std::uint32_t n = shape.blocks;
  const std::uint32_t ct_len = shape.ct_len;
  if (i < 2) {
    // Selects rather than hdr[4 * i + k]: a run-time index would move the
    // header out of registers on the GPU.
    HIX_UNROLL
    for (int k = 0; k < 4; ++k) w[k] = i == 0 ? hdr[k] : hdr[4 + k];
  } else if (i + 1 < n) {
    load16(i, w);
    const std::uint32_t start = (i - 2) * kPolyBlockBytes;
    if (ct_len - start < kPolyBlockBytes) {
      const std::uint32_t valid = ct_len - start;  // 1..15 bytes
      HIX_UNROLL
      for (std::uint32_t k = 0; k < 4; ++k) {
        const std::uint32_t lo = 4 * k;
        if (valid <= lo) {
          w[k] = 0;
        } else if (valid < lo + 4) {
          w[k] &= (1u << (8 * (valid - lo))) - 1u;
        }
      }
    }
  } else {
    w[0] = kChunkAadBytes;
    w[1] = 0;
    w[2] = ct_len;
    w[3] = 0;
  }
}

// --- One pass over a full chunk (the one-pass open kernel) ---
// The keystream XOR and the MAC read the chunk's ciphertext once, a 64-byte
// keystream block (four ciphertext blocks) at a time. With L lanes, B =
// 1024 / L blocks each, lane j of warp w takes keystream blocks
// 32 (w B + b) + j, b = 0 .. B-1, so that a warp's loads lie side by side.
// Per block it runs Horner's rule by r over the four ciphertext blocks into
// s (lane 0 over the two header blocks first, at b = 0) and folds s in as
// a_j = a_j r^128 + s, its next block starting 128 ciphertext blocks later.
// Within warp w's 128 B ciphertext blocks the lanes' sums then meet as the
// padded split above does with K = 4, sum_j a_j * r^(4(31-j)), and the warps
// in r^(128 B): h' = sum over the ciphertext blocks c_q of c_q r^(4096-q),
// plus the header's m_0 r^4098 + m_1 r^4097. That is one block short of the
// n = 4099 message blocks' end:
//   h = (h' + m_(n-1)) * r,
// one more Horner step, with the lengths block (le64(32) || le64(65536)).
// No absent blocks: every lane holds whole keystream blocks of ciphertext.

inline constexpr std::uint32_t kFullChunkCtBlocks = 4096;  // 65536 bytes
// The tree's K over a full chunk: a keystream block's ciphertext blocks.
inline constexpr std::uint32_t kFullChunkLaneSteps = 4;

// The last Horner step of a full chunk's MAC: (h' + lengths block) * r for
// the lanes' combined sum h' (limbs below 2^26 + 2^10, as fe_mul_add leaves
// them) and r from the one-time key's first words (clamped here); the sum's
// limbs stay below 2^27 + 2^10.
HIX_HD Fe full_chunk_mac_close(const Fe& lanes_sum, const std::uint32_t r_words[4]) {
  const std::uint32_t lengths[4] = {kChunkAadBytes, 0, kFullChunkCtBlocks * kPolyBlockBytes, 0};
  const Fe m = fe_from_block(lengths);
  Fe sum;
  HIX_UNROLL
  for (int i = 0; i < 5; ++i) sum.l[i] = lanes_sum.l[i] + m.l[i];
  return fe_mul(sum, fe_clamped_r(r_words));
}

}  // namespace hix::vgpu::cuda
