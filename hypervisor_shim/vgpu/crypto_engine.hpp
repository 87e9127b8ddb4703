// The in-device crypto engine (spec §7.2, §7.3): DMA_IN_DECRYPT and
// DMA_OUT_ENCRYPT between sealed tensors in guest memory and plaintext VRAM.
// Ciphertext is copied into device memory before anything is checked. A
// failed open (AUTH_FAILED) leaves the destination range zeroed, whichever
// backend decrypted: nothing decrypted from a forged tensor remains.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "backend.hpp"
#include "dma.hpp"
#include "peer_disk.hpp"
#include "sealed_chunk.hpp"

namespace hix::vgpu {

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
  [[nodiscard]] Status dma_out_encrypt(VramOffset src, GuestPhys dst, std::uint64_t bytes,
                                       SealParams params,
                                       std::span<const std::uint8_t, kKeyBytes> key);

  std::uint32_t auth_failures() const { return auth_failures_.load(std::memory_order_relaxed); }
  void reset_counter() { auth_failures_.store(0, std::memory_order_relaxed); }
  // Wipes and releases the staging memory (scrub).
  void wipe();

 private:
  // Opens `sealed` into VRAM [dst, dst + bytes) on the backend's engine (or
  // the host's); a failed open leaves the range zeroed and is counted.
  [[nodiscard]] Status open_into(VramOffset dst, std::span<const std::byte> sealed,
                                 std::uint64_t bytes, SealParams params,
                                 std::span<const std::uint8_t, kKeyBytes> key);
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
};

}  // namespace hix::vgpu
