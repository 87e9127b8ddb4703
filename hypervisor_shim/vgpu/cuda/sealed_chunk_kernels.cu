// Sealed-chunk kernels (spec §7.1; RFC 8439 §2.4, §2.5, §2.8).
#include "sealed_chunk_kernels.hpp"

#include "hix/abi/vgpu_chunk.h"
#include "poly1305_field.hpp"

namespace hix::vgpu::cuda {
namespace {

constexpr std::uint32_t kChunkBytes = HIX_VGPU_CHUNK_BYTES;
constexpr std::uint64_t kChunkStride = HIX_VGPU_CHUNK_STRIDE;
constexpr std::uint32_t kHeaderBytes = HIX_VGPU_CHUNK_HEADER_BYTES;
constexpr std::uint32_t kTagBytes = HIX_VGPU_CHUNK_TAG_BYTES;
constexpr std::uint32_t kBlocksPerChunk = kChunkBytes / kChachaBlockBytes;  // 1024

// Threads per chunk in the MAC kernel (the lanes of poly1305_field.hpp): 33
// consecutive blocks each for a full chunk of 4099 blocks.
constexpr std::uint32_t kMacLanes = 128;
constexpr std::uint32_t kMacWarps = kMacLanes / 32;
// Independent 16-byte loads each MAC thread has in flight.
constexpr std::uint32_t kMacDepth = 4;
// Thread blocks per multiprocessor the MAC kernel's registers must allow.
constexpr std::uint32_t kMacMinBlocks = 12;
// Threads per multiprocessor the one-pass open kernel's registers must allow,
// whatever its lanes per chunk: 40 registers a thread, its main loop as long
// as at 56 (1024 threads), and 2% to 7% faster in run J (docs/decisions.md,
// "The one-pass open interleaved").
constexpr std::uint32_t kOpenThreadsPerSm = 1536;
constexpr std::uint32_t kKeyThreads = 128;
constexpr std::uint32_t kXorThreads = 256;

static_assert(kChunkStride % 16 == 0 && kHeaderBytes % 16 == 0,
              "chunk starts and ciphertexts stay 16-byte aligned");
static_assert(kChunkBytes % kChachaBlockBytes == 0, "chunks hold whole keystream blocks");
static_assert(kFullChunkCtBlocks * kPolyBlockBytes == kChunkBytes, "the one-pass split's chunk");

// One chunk's Poly1305 key: the clamped r (base 2^32) and s, and r^K,
// r^2K, ..., r^32K for the lanes' tree (26-bit limbs), K = the chunk's blocks
// per lane.
struct ChunkMacKey {
  std::uint32_t r[4];
  std::uint32_t s[4];
  Fe k_pow[6];
};
constexpr std::uint32_t kMacKeyWords = sizeof(ChunkMacKey) / 4;
static_assert(sizeof(ChunkMacKey) == 152 && kMacKeyWords <= kMacLanes);

__device__ __forceinline__ void load16_words(const std::byte* p, std::uint32_t w[4]) {
  // 16-byte aligned by the static_asserts above and the launchers' checks.
  const uint4 v = __ldg(reinterpret_cast<const uint4*>(p));
  w[0] = v.x;
  w[1] = v.y;
  w[2] = v.z;
  w[3] = v.w;
}

// Chunk `chunk` of `t`'s Poly1305 key: keystream block 0 gives (r, s); then
// the powers.
__device__ ChunkMacKey chunk_mac_key(const SealedTensor& t, std::uint32_t chunk) {
  std::uint32_t ks[16];
  chacha20_block(t.key, 0, chunk_nonce(chunk, t.tensor_id), ks);
  const std::uint32_t ct_len = chunk + 1 == t.chunks ? t.last_len : kChunkBytes;
  ChunkMacKey k;
  const ClampedR cr = clamped_r(ks);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    k.r[i] = cr.r[i];
    k.s[i] = ks[4 + i];
  }
  k.k_pow[0] = fe_pow(fe_clamped_r(ks), lane_steps(chunk_mac_blocks(ct_len), kMacLanes));
#pragma unroll
  for (int i = 1; i < 6; ++i) k.k_pow[i] = fe_mul(k.k_pow[i - 1], k.k_pow[i - 1]);
  return k;
}

// One thread per chunk of `range`. keys[i] is chunk range.first + i's.
__global__ void chunk_mac_key_kernel(const SealedTensor t, const ChunkRange range,
                                     ChunkMacKey* keys) {
  const std::uint32_t local = blockIdx.x * kKeyThreads + threadIdx.x;
  if (local >= range.count) return;
  keys[local] = chunk_mac_key(t, range.first + local);
}

// The run tensor that holds run chunk `chunk`: the last whose first_chunk is
// not above it (first_chunk ascends from 0).
__device__ std::uint32_t run_tensor_of(const RunTensor* tensors, std::uint32_t count,
                                       std::uint32_t chunk) {
  std::uint32_t lo = 0;
  std::uint32_t hi = count;
  while (hi - lo > 1) {
    const std::uint32_t mid = lo + (hi - lo) / 2;
    if (tensors[mid].first_chunk <= chunk) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// The same over run chunks `range` of a run's tensors.
__global__ void run_mac_key_kernel(const RunTensor* tensors, std::uint32_t count,
                                   const ChunkRange range, ChunkMacKey* keys) {
  const std::uint32_t local = blockIdx.x * kKeyThreads + threadIdx.x;
  if (local >= range.count) return;
  const std::uint32_t chunk = range.first + local;
  const RunTensor& rt = tensors[run_tensor_of(tensors, count, chunk)];
  const SealedTensor t = rt.t;
  keys[local] = chunk_mac_key(t, chunk - rt.first_chunk);
}

// The header fields chunk `chunk` of `t` must carry (spec §7.1).
__device__ __forceinline__ void expected_header(const SealedTensor& t, std::uint32_t chunk,
                                                std::uint32_t hdr[8]) {
  ChunkHeaderFields fields;
  fields.key_id = t.key_id;
  fields.tensor_id = t.tensor_id;
  fields.index = chunk;
  fields.count = t.chunks;
  fields.tensor_bytes = t.bytes;
  chunk_header_words(fields, hdr);
}

// This thread's lane of the MAC of a chunk with `shape` (its sealed bytes at
// `base`) split across kLanes lanes with absent blocks in front
// (poly1305_field.hpp): Horner's rule in the clamped r over its run of
// lane_steps(n, kLanes) padded positions, kMacDepth loads in flight.
template <std::uint32_t kLanes>
__device__ __forceinline__ Fe32 padded_lane_sum(const std::byte* base, ChunkMacShape shape,
                                                const std::uint32_t hdr[8], const ClampedR& r) {
  const std::uint32_t n = shape.blocks;
  const std::uint32_t steps = lane_steps(n, kLanes);
  const std::uint32_t pad = lane_padding(n, kLanes);
  const std::uint32_t first = threadIdx.x * steps;  // padded position of this lane's first block
  const auto load16 = [base](std::uint32_t i, std::uint32_t w[4]) {
    load16_words(base + 16 * i, w);
  };
  Fe32 h{{0, 0, 0, 0, 0}};
  for (std::uint32_t k = 0; k < steps; k += kMacDepth) {
    std::uint32_t w[kMacDepth][4];
    // Fast path: the kMacDepth blocks are all present, whole ciphertext
    // blocks (neither header, lengths nor a partial last block), as for
    // every lane but a chunk's first few and last one.
    const std::uint32_t i0 = first + k - pad;  // message block of position first + k
    if (k + kMacDepth <= steps && first + k >= pad + 2 && i0 + kMacDepth < n &&
        (i0 + kMacDepth - 2) * kPolyBlockBytes <= shape.ct_len) {
#pragma unroll
      for (std::uint32_t u = 0; u < kMacDepth; ++u) load16(i0 + u, w[u]);
#pragma unroll
      for (std::uint32_t u = 0; u < kMacDepth; ++u) fe32_horner_chains(h, w[u], 1, r);
      continue;
    }
    bool present[kMacDepth];
#pragma unroll
    for (std::uint32_t u = 0; u < kMacDepth; ++u) {
      const std::uint32_t q = first + k + u;
      // Absent blocks lie in front of every present one: h stays 0 over them.
      present[u] = k + u < steps && q >= pad;
      if (present[u]) chunk_mac_block(q - pad, shape, hdr, load16, w[u]);
    }
#pragma unroll
    for (std::uint32_t u = 0; u < kMacDepth; ++u) {
      if (present[u]) fe32_horner_chains(h, w[u], 1, r);
    }
  }
  return h;
}

// Horner over the kLanes lanes of the thread block in r^K as a tree: after
// level l, lanes that are multiples of 2^(l+1) hold their 2^(l+1) lanes'
// sum; lane 0 of each warp ends with sum_t v_t r^(K(31-t)) over its warp,
// then thread 0 combines the warps in `across` (r^32K where each lane's run
// follows the one before; another power where the warps' runs interleave).
// k_pow: r^K, r^2K, ..., r^16K. Every thread of the block calls it (it
// synchronises the block); the result is the block's sum in thread 0 only.
template <std::uint32_t kLanes>
__device__ __forceinline__ Fe lanes_tree(Fe v, const Fe* k_pow, const Fe& across, Fe* warp_sums) {
  static_assert(kLanes % 32 == 0, "whole warps");
  const std::uint32_t lane = threadIdx.x;
#pragma unroll
  for (std::uint32_t level = 0; level < 5; ++level) {
    Fe other;
#pragma unroll
    for (int i = 0; i < 5; ++i) other.l[i] = __shfl_down_sync(0xffffffffu, v.l[i], 1u << level);
    v = fe_mul_add(v, k_pow[level], other);
  }
  if (lane % 32 == 0) warp_sums[lane / 32] = v;
  __syncthreads();
  if (lane != 0) return v;
  Fe all = warp_sums[0];
  for (std::uint32_t wi = 1; wi < kLanes / 32; ++wi) all = fe_mul_add(all, across, warp_sums[wi]);
  return all;
}

// True when the sealed header at `base` differs from `hdr` or the tag after
// its ct_len ciphertext bytes from `tag`. Constant time: every byte is
// compared.
__device__ __forceinline__ bool header_or_tag_differs(const std::byte* base,
                                                      const std::uint32_t hdr[8],
                                                      std::uint32_t ct_len,
                                                      const std::uint32_t tag[4]) {
  const std::byte* const tag_at = base + kHeaderBytes + ct_len;  // any alignment
  std::uint32_t diff = 0;
  std::uint32_t got[8];
  load16_words(base, got);
  load16_words(base + 16, got + 4);
  for (int i = 0; i < 8; ++i) diff |= got[i] ^ hdr[i];
  for (std::uint32_t b = 0; b < kTagBytes; ++b) {
    diff |= static_cast<std::uint32_t>(tag_at[b]) ^ ((tag[b / 4] >> (8 * (b % 4))) & 0xffu);
  }
  return diff != 0;
}

// Poly1305 of chunk `chunk` of `t` (its sealed bytes at `base`) by the
// whole thread block (poly1305_field.hpp's lane split), then (kSeal) header
// and tag written, or (!kSeal) header and tag compared: true in lane 0 when
// they differ. `key_in` is the chunk's key; `key` and `warp_sums` are the
// block's shared memory.
template <bool kSeal>
__device__ __forceinline__ bool chunk_mac(const SealedTensor& t, std::uint32_t chunk,
                                          std::byte* base, const ChunkMacKey* key_in,
                                          ChunkMacKey& key, Fe* warp_sums) {
  const std::uint32_t lane = threadIdx.x;
  const std::uint32_t ct_len = chunk + 1 == t.chunks ? t.last_len : kChunkBytes;
  std::uint32_t hdr[8];
  expected_header(t, chunk, hdr);
  if (lane < kMacKeyWords) {
    reinterpret_cast<std::uint32_t*>(&key)[lane] =  // the key as words, as it was written
        reinterpret_cast<const std::uint32_t*>(key_in)[lane];
  }
  __syncthreads();

  const Fe32 h = padded_lane_sum<kMacLanes>(base, chunk_mac_shape(ct_len), hdr, clamped_r(key.r));
  const Fe all = lanes_tree<kMacLanes>(fe_from_fe32(h), key.k_pow, key.k_pow[5], warp_sums);
  if (lane != 0) return false;
  FeWide wide{};
  fe_accumulate(wide, all);
  std::uint32_t tag[4];
  poly1305_finish(wide, key.s, tag);
  if constexpr (kSeal) {
    // base is 16-byte aligned (see the static_asserts).
    reinterpret_cast<uint4*>(base)[0] = make_uint4(hdr[0], hdr[1], hdr[2], hdr[3]);
    reinterpret_cast<uint4*>(base)[1] = make_uint4(hdr[4], hdr[5], hdr[6], hdr[7]);
    std::byte* const tag_at = base + kHeaderBytes + ct_len;  // any alignment
    for (std::uint32_t b = 0; b < kTagBytes; ++b) {
      tag_at[b] = static_cast<std::byte>(tag[b / 4] >> (8 * (b % 4)));
    }
    return false;
  } else {
    return header_or_tag_differs(base, hdr, ct_len, tag);
  }
}

// One thread block per chunk of `range` (`sealed` points at chunk
// range.first): chunk_mac, each bad chunk counted in *failures.
template <bool kSeal>
__global__ void __launch_bounds__(kMacLanes, kMacMinBlocks)
    chunk_mac_kernel(const SealedTensor t, const ChunkRange range, std::byte* sealed,
                     const ChunkMacKey* keys, std::uint32_t* failures) {
  __shared__ ChunkMacKey key;
  __shared__ Fe warp_sums[kMacWarps];
  const std::uint32_t local = blockIdx.x;
  // Nonce and header: the chunk's index in the tensor.
  const bool bad = chunk_mac<kSeal>(t, range.first + local, sealed + local * kChunkStride,
                                    keys + local, key, warp_sums);
  if (bad) atomicAdd(failures, 1u);
}

// One thread block per run chunk of `range`: the chunk verified in the run's
// staging; a bad one lowers *first_bad to its tensor's index.
__global__ void __launch_bounds__(kMacLanes, kMacMinBlocks)
    run_verify_kernel(const RunTensor* tensors, std::uint32_t count, const ChunkRange range,
                      const std::byte* staging, const ChunkMacKey* keys, std::uint32_t* first_bad) {
  __shared__ ChunkMacKey key;
  __shared__ Fe warp_sums[kMacWarps];
  const std::uint32_t local = blockIdx.x;
  const std::uint32_t chunk = range.first + local;
  const std::uint32_t ti = run_tensor_of(tensors, count, chunk);
  const RunTensor& rt = tensors[ti];
  const SealedTensor t = rt.t;
  const std::uint32_t in_tensor = chunk - rt.first_chunk;
  // Verification only reads the chunk; it shares its code with sealing.
  auto* base = const_cast<std::byte*>(staging + rt.staged + in_tensor * kChunkStride);
  const bool bad = chunk_mac<false>(t, in_tensor, base, keys + local, key, warp_sums);
  if (bad) atomicMin(first_bad, ti);
}

// Keystream block `block` of chunk `chunk` of `t` XORed from `src` (the
// chunk's data, at the block's position) into `dst`. `vec`: both 16-byte
// aligned.
__device__ __forceinline__ void xor_block(const SealedTensor& t, std::uint32_t chunk,
                                          std::uint32_t block, const std::byte* src, std::byte* dst,
                                          bool vec) {
  const std::uint32_t len = chunk + 1 == t.chunks ? t.last_len : kChunkBytes;
  const std::uint32_t pos = block * kChachaBlockBytes;
  if (pos >= len) return;
  src += pos;
  dst += pos;
  const ChachaNonce nonce = chunk_nonce(chunk, t.tensor_id);
  std::uint32_t ks[16];
  if (vec && len - pos >= kChachaBlockBytes) {
    // Loads first, so they are in flight while the keystream is computed.
    const auto* s4 = reinterpret_cast<const uint4*>(src);  // 16-byte aligned (vec)
    uint4 d[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) d[i] = __ldg(s4 + i);
    chacha20_block(t.key, block + 1, nonce, ks);
    auto* d4 = reinterpret_cast<uint4*>(dst);  // 16-byte aligned (vec)
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      d4[i] = make_uint4(d[i].x ^ ks[4 * i], d[i].y ^ ks[4 * i + 1], d[i].z ^ ks[4 * i + 2],
                         d[i].w ^ ks[4 * i + 3]);
    }
    return;
  }
  chacha20_block(t.key, block + 1, nonce, ks);
  const std::uint32_t n = len - pos < kChachaBlockBytes ? len - pos : kChachaBlockBytes;
  const auto* s8 = reinterpret_cast<const unsigned char*>(src);  // byte view, same object
  auto* d8 = reinterpret_cast<unsigned char*>(dst);              // byte view, same object
#pragma unroll
  for (std::uint32_t b = 0; b < kChachaBlockBytes; ++b) {
    if (b < n) d8[b] = static_cast<unsigned char>(s8[b] ^ (ks[b / 4] >> (8 * (b % 4))));
  }
}

// One 64-byte keystream block per thread. kVec: both sides 16-byte aligned.
// Chunk c's data lies at in + c * in_stride + in_off (likewise for out).
template <bool kVec>
__global__ void __launch_bounds__(kXorThreads)
    chacha_xor_kernel(const SealedTensor t, const std::byte* __restrict__ in,
                      std::uint64_t in_stride, std::uint32_t in_off, std::byte* __restrict__ out,
                      std::uint64_t out_stride, std::uint32_t out_off, const std::uint32_t* gate) {
  if (gate != nullptr && *gate != 0) return;
  const std::uint64_t g = static_cast<std::uint64_t>(blockIdx.x) * kXorThreads + threadIdx.x;
  const auto chunk = static_cast<std::uint32_t>(g / kBlocksPerChunk);
  if (chunk >= t.chunks) return;
  const auto block = static_cast<std::uint32_t>(g % kBlocksPerChunk);
  xor_block(t, chunk, block, in + chunk * in_stride + in_off, out + chunk * out_stride + out_off,
            kVec);
}

__device__ __forceinline__ bool aligned16_device(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;  // address arithmetic only
}

// One keystream block per thread over run chunks `range` (whole tensors):
// a tensor whose index is not below *first_bad writes nothing.
__global__ void __launch_bounds__(kXorThreads)
    run_decrypt_kernel(const RunTensor* tensors, std::uint32_t count, const ChunkRange range,
                       const std::byte* staging, const std::uint32_t* first_bad) {
  const std::uint64_t g = static_cast<std::uint64_t>(blockIdx.x) * kXorThreads + threadIdx.x;
  const auto local = static_cast<std::uint32_t>(g / kBlocksPerChunk);
  if (local >= range.count) return;
  const std::uint32_t chunk = range.first + local;
  const std::uint32_t ti = run_tensor_of(tensors, count, chunk);
  if (ti >= *first_bad) return;
  const RunTensor& rt = tensors[ti];
  const SealedTensor t = rt.t;
  const std::uint32_t in_tensor = chunk - rt.first_chunk;
  const std::byte* src =
      staging + rt.staged + static_cast<std::uint64_t>(in_tensor) * kChunkStride + kHeaderBytes;
  std::byte* dst = rt.dst + static_cast<std::uint64_t>(in_tensor) * kChunkBytes;
  xor_block(t, in_tensor, static_cast<std::uint32_t>(g % kBlocksPerChunk), src, dst,
            aligned16_device(src) && aligned16_device(dst));
}

// 64 keystream bytes XORed into `c` and stored at `dst` (kVec: 16-byte
// aligned).
template <bool kVec>
__device__ __forceinline__ void store_xor64(std::byte* dst, const uint4 c[4],
                                            const std::uint32_t ks[16]) {
  if constexpr (kVec) {
    auto* d4 = reinterpret_cast<uint4*>(dst);  // 16-byte aligned (kVec)
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      d4[i] = make_uint4(c[i].x ^ ks[4 * i], c[i].y ^ ks[4 * i + 1], c[i].z ^ ks[4 * i + 2],
                         c[i].w ^ ks[4 * i + 3]);
    }
  } else {
    auto* d8 = reinterpret_cast<unsigned char*>(dst);  // byte view, any alignment
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const std::uint32_t w[4] = {c[i].x ^ ks[4 * i], c[i].y ^ ks[4 * i + 1],
                                  c[i].z ^ ks[4 * i + 2], c[i].w ^ ks[4 * i + 3]};
#pragma unroll
      for (int b = 0; b < 16; ++b) {
        d8[16 * i + b] = static_cast<unsigned char>(w[b / 4] >> (8 * (b % 4)));
      }
    }
  }
}

// The one-pass open: one thread block of kLanes threads per chunk of
// `range` (`sealed` points at chunk range.first's sealed bytes, `plain` at its
// plaintext; kVec: `plain` 16-byte aligned). Each ciphertext byte is read from
// global memory once, XORed with the keystream into `plain` and fed to the
// chunk's Poly1305 (full chunks: poly1305_field.hpp, "One pass over a full
// chunk"). A tensor's partial
// last chunk keystream-XORs block by block and runs the padded lane split
// over its ciphertext again (read twice: one chunk per tensor). Each bad
// chunk adds one to *failures; the plaintext is written whatever the
// verdict. Thread 0 derives the chunk's Poly1305 key (keystream block 0)
// into shared memory; then one thread the powers of r for the tree while
// the others start on their blocks: no scratch in global memory.
template <std::uint32_t kLanes, bool kVec>
__global__ void __launch_bounds__(kLanes, kOpenThreadsPerSm / kLanes)
    open_chunks_kernel(const SealedTensor t, const ChunkRange range,
                       const std::byte* __restrict__ sealed, std::byte* __restrict__ plain,
                       std::uint32_t* failures) {
  static_assert(kBlocksPerChunk % kLanes == 0, "whole keystream blocks per lane");
  constexpr std::uint32_t kLaneBlocks = kBlocksPerChunk / kLanes;  // keystream blocks per lane
  static_assert(kLanes >= 64 && kLaneBlocks >= 2,
                "thread 32 computes the powers, read from the second block");
  __shared__ ChunkMacKey key;  // r clamped (base 2^32), s, r^K .. r^32K
  __shared__ Fe across;        // the warps' factor in the tree
  __shared__ Fe warp_sums[kLanes / 32];
  const std::uint32_t lane = threadIdx.x;
  const std::uint32_t local = blockIdx.x;
  const std::uint32_t chunk = range.first + local;
  const std::byte* const base = sealed + static_cast<std::uint64_t>(local) * kChunkStride;
  std::byte* const out = plain + static_cast<std::uint64_t>(local) * kChunkBytes;
  const std::uint32_t ct_len = chunk + 1 == t.chunks ? t.last_len : kChunkBytes;
  const bool full = ct_len == kChunkBytes;
  const ChunkMacShape shape = chunk_mac_shape(ct_len);
  const ChachaNonce nonce = chunk_nonce(chunk, t.tensor_id);
  std::uint32_t hdr[8];
  expected_header(t, chunk, hdr);

  if (lane == 0) {
    std::uint32_t ks[16];
    chacha20_block(t.key, 0, nonce, ks);
    const ClampedR cr = clamped_r(ks);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      key.r[i] = cr.r[i];
      key.s[i] = ks[4 + i];
    }
  }
  __syncthreads();
  const ClampedR r = clamped_r(key.r);
  // The powers, read from a full chunk's second keystream block on (else by
  // the tree only), by thread 32, so that thread 0 is not the one late twice.
  if (lane == 32) {
    const std::uint32_t steps = full ? kFullChunkLaneSteps : lane_steps(shape.blocks, kLanes);
    key.k_pow[0] = fe_pow(fe_clamped_r(key.r), steps);
#pragma unroll
    for (int i = 1; i < 6; ++i) key.k_pow[i] = fe_mul(key.k_pow[i - 1], key.k_pow[i - 1]);
    Fe f = key.k_pow[5];
    if (full) {
      // A warp's keystream blocks span 128 * kLaneBlocks Poly1305 blocks.
      for (std::uint32_t k = 1; k < kLaneBlocks; k *= 2) f = fe_mul(f, f);
    }
    across = f;
  }

  Fe h = fe_zero();
  if (full) {
    // Warp w holds keystream blocks [32 w kLaneBlocks, 32 (w+1) kLaneBlocks)
    // of the chunk; at step b its lane j takes block 32 (w kLaneBlocks + b)
    // + j, so a warp's loads and stores cover 2 KiB side by side. Each lane
    // runs Horner by r over its block's four Poly1305 blocks (s, in base
    // 2^32), and folds the blocks in as h = h r^128 + s: the next block of
    // the lane starts 128 Poly1305 blocks after this one's. The lanes then
    // meet in the tree with K = 4, the warps in r^(128 kLaneBlocks).
    const std::uint32_t warp_first = (lane / 32) * 32 * kLaneBlocks + lane % 32;
    const auto* src = reinterpret_cast<const uint4*>(base + kHeaderBytes);  // 16-byte aligned
#pragma unroll 1
    for (std::uint32_t b = 0; b < kLaneBlocks; ++b) {
      if (b == 1) __syncthreads();  // key.k_pow written
      const std::uint32_t block = warp_first + 32 * b;
      uint4 c[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) c[i] = __ldg(src + 4 * block + i);
      std::uint32_t ks[16];
      chacha20_block(t.key, block + 1, nonce, ks);
      store_xor64<kVec>(out + block * kChachaBlockBytes, c, ks);
      Fe32 sum{{0, 0, 0, 0, 0}};
      if (b == 0 && lane == 0) {
        fe32_horner(sum, hdr, 1, r);
        fe32_horner(sum, hdr + 4, 1, r);
      }
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const std::uint32_t w[4] = {c[i].x, c[i].y, c[i].z, c[i].w};
        fe32_horner(sum, w, 1, r);
      }
      h = b == 0 ? fe_from_fe32(sum) : fe_mul_add(h, key.k_pow[5], fe_from_fe32(sum));
    }
  } else {
    for (std::uint32_t b = lane; b < kBlocksPerChunk; b += kLanes) {
      xor_block(t, chunk, b, base + kHeaderBytes, out, kVec);
    }
    h = fe_from_fe32(padded_lane_sum<kLanes>(base, shape, hdr, r));
  }
  __syncthreads();  // key.k_pow and across written
  Fe all = lanes_tree<kLanes>(h, key.k_pow, across, warp_sums);
  if (lane != 0) return;
  if (full) all = full_chunk_mac_close(all, key.r);
  FeWide wide{};
  fe_accumulate(wide, all);
  std::uint32_t tag[4];
  poly1305_finish(wide, key.s, tag);
  if (header_or_tag_differs(base, hdr, ct_len, tag)) atomicAdd(failures, 1u);
}

bool aligned16(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;  // address arithmetic only
}

std::uint64_t keystream_threads(const SealedTensor& t) {
  return static_cast<std::uint64_t>(t.chunks - 1) * kBlocksPerChunk +
         (t.last_len + kChachaBlockBytes - 1) / kChachaBlockBytes;
}

cudaError_t launch_xor(const SealedTensor& t, const std::byte* in, std::uint64_t in_stride,
                       std::uint32_t in_off, std::byte* out, std::uint64_t out_stride,
                       std::uint32_t out_off, const std::uint32_t* gate, cudaStream_t stream) {
  const std::uint64_t blocks = (keystream_threads(t) + kXorThreads - 1) / kXorThreads;
  if (blocks > 0x7fffffffu) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(blocks));
  if (aligned16(in) && aligned16(out)) {
    chacha_xor_kernel<true><<<grid, kXorThreads, 0, stream>>>(t, in, in_stride, in_off, out,
                                                              out_stride, out_off, gate);
  } else {
    chacha_xor_kernel<false><<<grid, kXorThreads, 0, stream>>>(t, in, in_stride, in_off, out,
                                                               out_stride, out_off, gate);
  }
  return cudaGetLastError();
}

template <bool kSeal>
cudaError_t launch_mac(const SealedTensor& t, ChunkRange range, std::byte* sealed, void* scratch,
                       std::uint32_t* failures, cudaStream_t stream) {
  if (!aligned16(sealed) || !aligned16(scratch) || range.count == 0 ||
      static_cast<std::uint64_t>(range.first) + range.count > t.chunks) {
    return cudaErrorInvalidValue;
  }
  auto* keys = static_cast<ChunkMacKey*>(scratch);
  chunk_mac_key_kernel<<<(range.count + kKeyThreads - 1) / kKeyThreads, kKeyThreads, 0, stream>>>(
      t, range, keys);
  chunk_mac_kernel<kSeal><<<range.count, kMacLanes, 0, stream>>>(t, range, sealed, keys, failures);
  return cudaGetLastError();
}

template <std::uint32_t kLanes>
cudaError_t launch_open(const SealedTensor& t, ChunkRange range, const std::byte* sealed,
                        std::byte* plain, std::uint32_t* failures, cudaStream_t stream) {
  if (aligned16(plain)) {
    open_chunks_kernel<kLanes, true>
        <<<range.count, kLanes, 0, stream>>>(t, range, sealed, plain, failures);
  } else {
    open_chunks_kernel<kLanes, false>
        <<<range.count, kLanes, 0, stream>>>(t, range, sealed, plain, failures);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_verify_run(const RunTensor* tensors, std::uint32_t count, ChunkRange range,
                              const std::byte* staging, void* scratch, std::uint32_t* first_bad,
                              cudaStream_t stream) {
  if (!aligned16(staging) || !aligned16(scratch) || count == 0 || range.count == 0) {
    return cudaErrorInvalidValue;
  }
  auto* keys = static_cast<ChunkMacKey*>(scratch);
  run_mac_key_kernel<<<(range.count + kKeyThreads - 1) / kKeyThreads, kKeyThreads, 0, stream>>>(
      tensors, count, range, keys);
  run_verify_kernel<<<range.count, kMacLanes, 0, stream>>>(tensors, count, range, staging, keys,
                                                           first_bad);
  return cudaGetLastError();
}

cudaError_t launch_decrypt_run(const RunTensor* tensors, std::uint32_t count, ChunkRange range,
                               const std::byte* staging, const std::uint32_t* first_bad,
                               cudaStream_t stream) {
  if (!aligned16(staging) || count == 0 || range.count == 0) return cudaErrorInvalidValue;
  const std::uint64_t threads = static_cast<std::uint64_t>(range.count) * kBlocksPerChunk;
  const std::uint64_t blocks = (threads + kXorThreads - 1) / kXorThreads;
  if (blocks > 0x7fffffffu) return cudaErrorInvalidValue;
  run_decrypt_kernel<<<static_cast<unsigned>(blocks), kXorThreads, 0, stream>>>(
      tensors, count, range, staging, first_bad);
  return cudaGetLastError();
}

std::uint64_t mac_scratch_bytes(std::uint32_t chunks) {
  return static_cast<std::uint64_t>(chunks) * sizeof(ChunkMacKey);
}

cudaError_t launch_verify_chunks(const SealedTensor& t, const std::byte* sealed, void* scratch,
                                 std::uint32_t* failures, cudaStream_t stream) {
  return launch_verify_chunks(t, ChunkRange{0, t.chunks}, sealed, scratch, failures, stream);
}

cudaError_t launch_verify_chunks(const SealedTensor& t, ChunkRange range, const std::byte* sealed,
                                 void* scratch, std::uint32_t* failures, cudaStream_t stream) {
  // The verifying kernel only reads `sealed`; it shares its code with sealing.
  return launch_mac<false>(t, range, const_cast<std::byte*>(sealed), scratch, failures, stream);
}

cudaError_t launch_tag_chunks(const SealedTensor& t, std::byte* sealed, void* scratch,
                              cudaStream_t stream) {
  return launch_mac<true>(t, ChunkRange{0, t.chunks}, sealed, scratch, nullptr, stream);
}

cudaError_t launch_decrypt_chunks(const SealedTensor& t, const std::byte* sealed, std::byte* plain,
                                  const std::uint32_t* gate, cudaStream_t stream) {
  if (!aligned16(sealed) || t.chunks == 0) return cudaErrorInvalidValue;
  return launch_xor(t, sealed, kChunkStride, kHeaderBytes, plain, kChunkBytes, 0, gate, stream);
}

cudaError_t launch_open_chunks(const SealedTensor& t, ChunkRange range, const std::byte* sealed,
                               std::byte* plain, std::uint32_t lanes, std::uint32_t* failures,
                               cudaStream_t stream) {
  if (!aligned16(sealed) || range.count == 0 ||
      static_cast<std::uint64_t>(range.first) + range.count > t.chunks) {
    return cudaErrorInvalidValue;
  }
  static_assert(sizeof kOnePassLaneChoices / sizeof kOnePassLaneChoices[0] == 4 &&
                    kOnePassLaneChoices[0] == 64 && kOnePassLaneChoices[1] == 128 &&
                    kOnePassLaneChoices[2] == 256 && kOnePassLaneChoices[3] == 512,
                "a kernel for each choice");
  if (lanes == 64) return launch_open<64>(t, range, sealed, plain, failures, stream);
  if (lanes == 128) return launch_open<128>(t, range, sealed, plain, failures, stream);
  if (lanes == 256) return launch_open<256>(t, range, sealed, plain, failures, stream);
  if (lanes == 512) return launch_open<512>(t, range, sealed, plain, failures, stream);
  return cudaErrorInvalidValue;
}

cudaError_t launch_open_chunks(const SealedTensor& t, const std::byte* sealed, std::byte* plain,
                               std::uint32_t lanes, std::uint32_t* failures, cudaStream_t stream) {
  return launch_open_chunks(t, ChunkRange{0, t.chunks}, sealed, plain, lanes, failures, stream);
}

cudaError_t launch_encrypt_chunks(const SealedTensor& t, const std::byte* plain, std::byte* sealed,
                                  cudaStream_t stream) {
  if (!aligned16(sealed) || t.chunks == 0) return cudaErrorInvalidValue;
  return launch_xor(t, plain, kChunkBytes, 0, sealed, kChunkStride, kHeaderBytes, nullptr, stream);
}

}  // namespace hix::vgpu::cuda
