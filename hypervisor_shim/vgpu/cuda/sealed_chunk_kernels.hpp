// The GPU crypto engine's kernels over sealed tensors in device memory
// (spec §7.1): ChaCha20 keystream XOR, one 64-byte block per thread, and
// Poly1305 over each chunk's AEAD message, one thread block per chunk, each
// thread taking a run of consecutive 16-byte blocks (poly1305_field.hpp);
// and both in one pass (launch_open_chunks), each thread a run of
// consecutive keystream blocks and the same ciphertext's Poly1305 blocks.
// Host-callable launchers; every launch is asynchronous on the given stream.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "chacha20_block.hpp"
#include "one_pass_lanes.hpp"

namespace hix::vgpu::cuda {

// One sealed tensor as the kernels see it. Carries the key: wipe it after use.
struct SealedTensor {
  ChachaKey key;
  std::uint64_t tensor_id;
  std::uint64_t bytes;     // plaintext bytes, 1 .. 2^40
  std::uint32_t chunks;    // ceil(bytes / 65536)
  std::uint32_t last_len;  // plaintext bytes of the last chunk, 1 .. 65536
  std::uint8_t key_id;
};

// One tensor of a run of DMA_IN_DECRYPT ops (spec §7.2.1) as the run
// kernels see it, in an array in device memory: the tensors' chunks are
// numbered through the run (tensor i's first is first_chunk, ascending from
// 0) and their sealed bytes lie in one staging buffer. Carries the key.
struct RunTensor {
  SealedTensor t;
  std::uint64_t staged;       // its sealed bytes' offset in the staging (a multiple of 16)
  std::byte* dst;             // its plaintext's destination (device memory, any alignment)
  std::uint32_t first_chunk;  // its chunk 0's index in the run
  std::uint32_t reserved;
};

// Device scratch the MAC launchers need: each chunk's Poly1305 key (r, s and
// the powers of r the lanes are combined with, 152 bytes) is computed once by
// a kernel of its own. Key material: the launchers' callers wipe it.
std::uint64_t mac_scratch_bytes(std::uint32_t chunks);

// Consecutive chunks of one tensor: chunk indices first .. first + count - 1.
struct ChunkRange {
  std::uint32_t first;
  std::uint32_t count;
};

// Checks every chunk of `sealed` (device memory, 16-byte aligned): header
// equal to the one `t` implies and tag valid. Adds one to *failures (device
// memory) per bad chunk; writes nothing else but `scratch`
// (mac_scratch_bytes(t.chunks)).
cudaError_t launch_verify_chunks(const SealedTensor& t, const std::byte* sealed, void* scratch,
                                 std::uint32_t* failures, cudaStream_t stream);
// The same over the chunks `range` of the tensor only (non-empty, inside
// t.chunks), so that a tensor can be checked piece by piece as it arrives.
// `sealed` points at chunk range.first (not at chunk 0), so the range may sit
// anywhere in device memory; `scratch` holds mac_scratch_bytes(range.count).
// Nonces and headers use the chunks' indices in the tensor.
cudaError_t launch_verify_chunks(const SealedTensor& t, ChunkRange range, const std::byte* sealed,
                                 void* scratch, std::uint32_t* failures, cudaStream_t stream);

// Verifies run chunks `range` (non-empty) of the `count` tensors at
// `tensors` (device memory), their sealed bytes in `staging` (16-byte
// aligned): each bad chunk lowers *first_bad (device memory) to its tensor's
// index. `scratch` holds mac_scratch_bytes(range.count).
cudaError_t launch_verify_run(const RunTensor* tensors, std::uint32_t count, ChunkRange range,
                              const std::byte* staging, void* scratch, std::uint32_t* first_bad,
                              cudaStream_t stream);
// Decrypts run chunks `range` (whole tensors) into their destinations; a
// tensor whose index is not below *first_bad when its threads run writes
// nothing. Launch it after the verification of every chunk up to the end of
// `range` (and of every earlier tensor), on the same stream.
cudaError_t launch_decrypt_run(const RunTensor* tensors, std::uint32_t count, ChunkRange range,
                               const std::byte* staging, const std::uint32_t* first_bad,
                               cudaStream_t stream);

// The one-pass open of chunks `range` (non-empty, inside t.chunks) of `t`:
// each ciphertext byte of `sealed` (device memory, 16-byte aligned, pointing
// at chunk range.first as for launch_verify_chunks) is read once, XORed with
// the keystream into `plain` (chunk range.first's plaintext, any alignment)
// and fed to its chunk's Poly1305; each chunk whose header or tag is bad adds
// one to *failures (device memory). The plaintext is written whatever the
// verdict: the caller lets nothing read `plain` before it has read
// *failures, and zeroes it unless that stayed 0. `lanes`: threads per chunk,
// one of kOnePassLaneChoices (else cudaErrorInvalidValue). Needs no scratch.
cudaError_t launch_open_chunks(const SealedTensor& t, ChunkRange range, const std::byte* sealed,
                               std::byte* plain, std::uint32_t lanes, std::uint32_t* failures,
                               cudaStream_t stream);
// The same over every chunk of `t`.
cudaError_t launch_open_chunks(const SealedTensor& t, const std::byte* sealed, std::byte* plain,
                               std::uint32_t lanes, std::uint32_t* failures, cudaStream_t stream);

// Writes every chunk's header and tag into `sealed` (device memory, 16-byte
// aligned) whose ciphertext is already in place.
cudaError_t launch_tag_chunks(const SealedTensor& t, std::byte* sealed, void* scratch,
                              cudaStream_t stream);

// Decrypts the ciphertext of `sealed` into `plain` (t.bytes bytes, any
// alignment), unless *gate (device memory; may be null) is non-zero when the
// kernel starts: then nothing is written. Authenticates nothing itself.
cudaError_t launch_decrypt_chunks(const SealedTensor& t, const std::byte* sealed, std::byte* plain,
                                  const std::uint32_t* gate, cudaStream_t stream);

// Encrypts `plain` (t.bytes bytes, any alignment) into the ciphertext slots
// of `sealed`; headers and tags are written by launch_tag_chunks.
cudaError_t launch_encrypt_chunks(const SealedTensor& t, const std::byte* plain, std::byte* sealed,
                                  cudaStream_t stream);

}  // namespace hix::vgpu::cuda
