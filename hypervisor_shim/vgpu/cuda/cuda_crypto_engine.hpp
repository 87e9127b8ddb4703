// The hix-gpu crypto engine on a CUDA GPU (spec §7.2, §7.3): DMA_IN_DECRYPT
// and DMA_OUT_ENCRYPT with the sealed-chunk format of spec §7.1, byte for byte
// what the CPU engine (crypto_engine.hpp, sealed_chunk.hpp) produces and
// accepts, computed by the kernels of sealed_chunk_kernels.hpp.
//
// Opening a tensor: the sealed bytes are copied into device staging first (the
// guest cannot change them between check and use) and every chunk's header
// and tag are verified on the GPU. Three open modes (OpenMode):
//  - gated: the decryption kernel runs after the verification, reads the
//    verdict on the GPU and writes nothing if any chunk failed, so a bad tag
//    leaves the destination untouched;
//  - concurrent: verification (Poly1305, multiply-bound) and decryption
//    (ChaCha20, integer-ALU-bound) run at the same time on two streams, so
//    the SMs overlap the two kinds of work; the decryption writes into the
//    destination before the verdict is known;
//  - one_pass (the default since its interleaved layout: 1026 GB/s against
//    814 for concurrent at 1 GiB on an H100, docs/performance.md, target
//    4): one kernel reads each ciphertext byte once, XORs it with the
//    keystream into the destination and feeds it to the chunk's Poly1305, so
//    each SM keeps both pipes busy and the ciphertext crosses memory once
//    instead of twice; it too writes before the verdict.
// Concurrent and one_pass end alike: the call reads the verdict; if any chunk
// failed it zeroes the destination and waits for that before it returns
// AUTH_FAILED. Nothing else runs in the destination meanwhile (the device
// runs one command buffer at a time and stops it at the failing op), so no
// later op, other context or DMA sees unauthenticated plaintext; the
// destination's earlier contents are lost (spec §7.2).
// From host memory the copy goes in slices of whole chunks, and each slice is
// verified (gated, concurrent) or opened (one_pass) on a second stream while
// the next one is copied, so the GPU's work hides behind the PCIe copy.
// Each engine owns its CUDA streams and runs each operation on them, start to
// finish; run operations concurrently with one engine per thread. The streams
// are blocking ones: they wait for work on the legacy default stream
// (cudaMemcpy, cudaMemset) that fills a buffer they read. No CUDA types appear
// here, so the device server includes this header with the host compiler
// alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>

#include "one_pass_lanes.hpp"
#include "sealed_chunk.hpp"
#include "secret_key.hpp"
#include "status.hpp"

namespace hix::vgpu::cuda {

// Bytes in CUDA device memory: an address space of its own (STYLE.md §4), so a
// device range never passes for a host span or back. Made from a pointer the
// CUDA runtime returned (cudaMalloc and friends).
template <class T>
class DeviceSpan {
 public:
  DeviceSpan() = default;
  explicit DeviceSpan(T* device_ptr, std::uint64_t size) : ptr_(device_ptr), size_(size) {}
  template <class U>
  DeviceSpan(DeviceSpan<U> other)  // NOLINT: implicit, as std::span's to-const conversion
      requires std::is_convertible_v<U*, T*> : ptr_(other.data()),
                                               size_(other.size()) {}
  T* data() const { return ptr_; }
  std::uint64_t size() const { return size_; }
  DeviceSpan subspan(std::uint64_t offset, std::uint64_t count) const {
    return DeviceSpan(ptr_ + offset, count);
  }

 private:
  T* ptr_ = nullptr;
  std::uint64_t size_ = 0;
};

using DeviceBytes = DeviceSpan<std::byte>;
using DeviceConstBytes = DeviceSpan<const std::byte>;

// How open_tensor orders verification and decryption (see above).
enum class OpenMode : std::uint8_t { gated, concurrent, one_pass };

class CudaCryptoEngine {
 public:
  // Opening from host memory copies the sealed tensor in slices of this many
  // whole chunks (32 MiB of plaintext) and verifies each slice while the next
  // one is copied. Smaller slices hide more of the verification behind the
  // copy but launch more, smaller kernels (a slice should fill the GPU's SMs);
  // the copy, at PCIe speed, is some 40 times slower than the verification.
  static constexpr std::uint32_t kHostOpenSliceChunks = 512;

  // An engine on CUDA device `device` with its own stream. unavailable when
  // there is no such device (or no driver), internal on other CUDA errors.
  [[nodiscard]] static Result<std::unique_ptr<CudaCryptoEngine>> create(int device = 0);
  ~CudaCryptoEngine();
  CudaCryptoEngine(const CudaCryptoEngine&) = delete;
  CudaCryptoEngine& operator=(const CudaCryptoEngine&) = delete;

  // DMA_IN_DECRYPT. Opens the sealed tensor `sealed` (host memory; pinned
  // memory copies at full speed) into `dst` (dst.size() is the tensor's
  // plaintext size). Every header must match `params` and the chunk's
  // position, every tag must verify; otherwise AUTH_FAILED, auth_failures()
  // grows by one and `dst` is left as it was (OpenMode::gated) or zeroed
  // (OpenMode::concurrent, OpenMode::one_pass). invalid_arg when the sizes do
  // not fit the format, internal on a CUDA error (concurrent, one_pass: `dst`
  // is zeroed as far as the GPU still allows).
  [[nodiscard]] Status open_tensor(DeviceBytes dst, std::span<const std::byte> sealed,
                                   SealParams params, std::span<const std::uint8_t, kKeyBytes> key);
  // The same from a sealed tensor already in device memory (16-byte aligned,
  // not overlapping dst), without the copy.
  [[nodiscard]] Status open_tensor(DeviceBytes dst, DeviceConstBytes sealed, SealParams params,
                                   std::span<const std::uint8_t, kKeyBytes> key);

  // A run of DMA_IN_DECRYPT ops (spec §7.2.1) as one operation: every
  // tensor's sealed bytes (host memory) copied into one staging buffer in
  // slices of kHostOpenSliceChunks chunks of the run, each slice verified on
  // the second stream while the next is copied, and a tensor decrypted into
  // its destination as soon as it and every tensor before it have verified
  // (gated on the GPU by the lowest failing tensor's index); one verdict read
  // and one synchronisation for the whole run. Always gated: nothing of a
  // tensor is written before its tags verify, nothing after a tensor that
  // fails, whatever open_mode() says. Destinations must not overlap.
  struct RunItem {
    DeviceBytes dst;                    // dst.size(): the tensor's bytes
    std::span<const std::byte> sealed;  // exactly sealed_size(dst.size()) bytes
    SealParams params;
    std::span<const std::uint8_t, kKeyBytes> key;
  };
  struct RunResult {
    std::size_t opened;  // the leading tensors written
    Status status;       // ok: all of them; else tensor `opened`'s
  };
  // auth_failed: tensor `opened` failed (counted once), its destination is
  // untouched, and the staging is wiped. invalid_arg (nothing done) when a
  // size does not fit the format or the run is empty or larger than
  // kMaxRunChunks chunks; internal (at 0) on a CUDA error.
  static constexpr std::uint64_t kMaxRunChunks = std::uint64_t{1} << 24;
  [[nodiscard]] RunResult open_run(std::span<const RunItem> run);

  // DMA_OUT_ENCRYPT. Seals `src` (device memory) into `sealed` (host memory,
  // exactly sealed_size(src.size()) bytes). The caller enforces the tensor-id
  // rules of spec §7.3 (the device does, as for the CPU engine).
  [[nodiscard]] Status seal_tensor(std::span<std::byte> sealed, DeviceConstBytes src,
                                   SealParams params, std::span<const std::uint8_t, kKeyBytes> key);
  // The same into device memory (16-byte aligned, not overlapping src).
  [[nodiscard]] Status seal_tensor(DeviceBytes sealed, DeviceConstBytes src, SealParams params,
                                   std::span<const std::uint8_t, kKeyBytes> key);

  OpenMode open_mode() const { return open_mode_; }
  void set_open_mode(OpenMode mode) { open_mode_ = mode; }
  // Threads per chunk of OpenMode::one_pass's kernel: one of
  // kOnePassLaneChoices (else invalid_arg, nothing changed).
  std::uint32_t one_pass_lanes() const { return one_pass_lanes_; }
  [[nodiscard]] Status set_one_pass_lanes(std::uint32_t lanes);

  std::uint32_t auth_failures() const { return auth_failures_; }
  void reset_counter() { auth_failures_ = 0; }
  // Zeroes and releases the staging memory (scrub).
  [[nodiscard]] Status wipe();
  // The engine's stream, as an opaque cudaStream_t, for callers that time or
  // order their own work against it (every operation ends on it).
  void* stream() const;

 private:
  struct Impl;
  explicit CudaCryptoEngine(std::unique_ptr<Impl> impl);
  // open_run's work, queued; the verdict read into the pinned verdict.
  Status enqueue_run(std::span<const RunItem> run, std::uint32_t chunks);
  Status open_device_staged(DeviceBytes dst, DeviceConstBytes sealed, SealParams params,
                            std::span<const std::uint8_t, kKeyBytes> key);
  Status seal_into(DeviceBytes sealed, DeviceConstBytes src, SealParams params,
                   std::span<const std::uint8_t, kKeyBytes> key);
  // Counts an auth_failed verdict; returns `s`.
  Status counted(Status s);

  std::unique_ptr<Impl> impl_;
  OpenMode open_mode_ = OpenMode::one_pass;
  std::uint32_t one_pass_lanes_ = kOnePassDefaultLanes;
  std::uint32_t auth_failures_ = 0;
};

}  // namespace hix::vgpu::cuda
