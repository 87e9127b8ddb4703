// The in-device crypto engine (spec §7.2, §7.3): DMA_IN_DECRYPT and
// DMA_OUT_ENCRYPT between sealed tensors in guest memory and plaintext VRAM.
// Ciphertext is copied into device memory before anything is checked. A
// failed open (AUTH_FAILED) leaves the destination range zeroed, whichever
// backend decrypted: nothing decrypted from a forged tensor remains.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "backend.hpp"
#include "dma.hpp"
#include "peer_disk.hpp"
#include "sealed_chunk.hpp"

namespace hix::vgpu {

// How many consecutive DMA_IN_DECRYPT ops the device hands the engine as one
// run (spec §7.2.1): at most `max_tensors` tensors (below 2: no runs, every
// op on its own) of at most `max_sealed_bytes` sealed bytes together (the
// engine stages them all at once; a larger tensor runs on its own).
struct DecryptRunLimits {
  std::uint32_t max_tensors = 1024;
  std::uint64_t max_sealed_bytes = std::uint64_t{1} << 30;
};

// One DMA_IN_DECRYPT of a run: the op's operands, checked by the executor.
struct DecryptItem {
  VramOffset dst;
  GuestPhys src;
  std::uint64_t bytes;
  SealParams params;
  std::span<const std::uint8_t, kKeyBytes> key;
};
using RunOutcome = DeviceCrypto::RunOutcome;

class CryptoEngine {
 public:
  CryptoEngine(DmaEngine& dma, Backend& backend) : dma_(dma), backend_(backend) {}
  ~CryptoEngine();
  CryptoEngine(const CryptoEngine&) = delete;
  CryptoEngine& operator=(const CryptoEngine&) = delete;

  [[nodiscard]] Status dma_in_decrypt(VramOffset dst, GuestPhys src, std::uint64_t bytes,
                                      SealParams params,
                                      std::span<const std::uint8_t, kKeyBytes> key);
  // DMA_IN_DECRYPT_PEER (spec §7.4): the sealed tensor read from a peer
  // disk; a disk or range that does not exist is counted in the DMA
  // engine's DMA_DENIED.
  [[nodiscard]] Status dma_in_decrypt_peer(VramOffset dst, const PeerDisks& disks, PeerAt at,
                                           std::uint64_t bytes, SealParams params,
                                           std::span<const std::uint8_t, kKeyBytes> key);
  // A run of DMA_IN_DECRYPT ops as one call (spec §7.2.1), with the result
  // of running them one by one: the tensors before the first that fails are
  // written; that one fails as its op would (AUTH_FAILED counted once, its
  // range zeroed; DMA_DENIED counted by the DMA engine) and nothing after it
  // is touched. Destinations must not overlap.
  [[nodiscard]] RunOutcome dma_in_decrypt_run(std::span<const DecryptItem> run);
  [[nodiscard]] Status dma_out_encrypt(VramOffset src, GuestPhys dst, std::uint64_t bytes,
                                       SealParams params,
                                       std::span<const std::uint8_t, kKeyBytes> key);

  std::uint32_t auth_failures() const { return auth_failures_.load(std::memory_order_relaxed); }
  // Runs of two or more tensors opened as one call, since the engine was
  // made (tests and benchmarks: whether runs happened at all).
  std::uint64_t runs() const { return runs_.load(std::memory_order_relaxed); }
  void reset_counter() { auth_failures_.store(0, std::memory_order_relaxed); }
  // Wipes and releases the staging memory (scrub).
  void wipe();

 private:
  // Opens `sealed` into VRAM [dst, dst + bytes) on the backend's engine (or
  // the host's); a failed open leaves the range zeroed and is counted.
  [[nodiscard]] Status open_into(VramOffset dst, std::span<const std::byte> sealed,
                                 std::uint64_t bytes, SealParams params,
                                 std::span<const std::uint8_t, kKeyBytes> key);
  // Opens the first tensors of a run whose sealed bytes have been fetched
  // (`sealed[i]` is run[i]'s), on the backend's engine or the host's.
  [[nodiscard]] RunOutcome open_run(std::span<const DecryptItem> run,
                                    std::span<const std::span<const std::byte>> sealed);
  [[nodiscard]] RunOutcome open_run_on_host(std::span<const DecryptItem> run,
                                            std::span<const std::span<const std::byte>> sealed);
  // The first `total` bytes of the ciphertext staging; with `pin`, the whole
  // staging pinned where the backend can (its copy into device memory then
  // runs at the link's speed, as from pinned guest RAM).
  std::span<std::byte> sealed_staging(std::uint64_t total, bool pin);
  void unpin_staging();

  DmaEngine& dma_;
  Backend& backend_;
  std::vector<std::byte> sealed_;  // staging: the device's copy of the ciphertext
  std::vector<std::byte> plain_;   // staging: plaintext, wiped after each use
  std::span<std::byte> pinned_;    // sealed_ as pinned by the backend, if it is
  std::atomic<std::uint32_t> auth_failures_{0};
  std::atomic<std::uint64_t> runs_{0};
};

}  // namespace hix::vgpu
