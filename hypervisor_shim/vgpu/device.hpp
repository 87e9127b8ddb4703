// hix-gpu, the device itself (docs/specs/hix-gpu.md): the BAR0 register
// file and admin mailbox, contexts, VRAM, key slots, the authenticated
// command ring, the crypto engine and the backend. The frontend (QEMU, or a
// test's fake bus) calls mmio_read/mmio_write with every BAR0 access as it
// arrived and pushes guest RAM, the DMA deny map and the lock state.
//
// Threads: any number of callers may use the MMIO and frontend entry points
// concurrently with one worker calling run_pending(). Polled registers
// (STATUS, FENCE, RING_HEAD, counters) are atomics and never wait for a
// command buffer to finish; admin commands do.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "backend.hpp"
#include "context.hpp"
#include "crypto_engine.hpp"
#include "dma.hpp"
#include "executor.hpp"
#include "hix/abi/vgpu_ring.h"
#include "hix/gpu/regs.hpp"
#include "key_ledger.hpp"
#include "peer_disk.hpp"
#include "secret_key.hpp"
#include "vram_allocator.hpp"

namespace hix::vgpu {

struct DeviceConfig {
  std::uint64_t op_budget = std::uint64_t{1} << 24;  // spec §6.3
  // true: a doorbell runs the ring in the writer's thread (tests, fuzzers).
  // false: it calls the doorbell handler, and a worker calls run_pending().
  bool inline_execution = true;
  // The peer disks (spec §7.4) the device reads; none when null.
  std::shared_ptr<const PeerDisks> peer_disks{};
  // Runs of DMA_IN_DECRYPT as one crypto-engine call (spec §7.2.1);
  // max_tensors below 2 runs every op on its own.
  DecryptRunLimits decrypt_runs{};
#ifdef HIX_VGPU_TESTING
  // The attack tests' control only (never in the server): every install
  // restarts its key's counters, as before the key ledger (spec §4.1).
  bool restart_counters_on_install = false;
#endif
};

class Device {
 public:
  explicit Device(std::unique_ptr<Backend> backend, DeviceConfig config = {});
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  // BAR0 (spec §2). Any offset and width; refusals are answered and counted.
  std::uint64_t mmio_read(std::uint64_t offset, unsigned size);
  void mmio_write(std::uint64_t offset, unsigned size, std::uint64_t value);
  std::uint32_t read32(gpu::Reg32 reg) {
    return static_cast<std::uint32_t>(mmio_read(gpu::offset_of(reg).value, 4));
  }
  void write32(gpu::Reg32 reg, std::uint32_t v) { mmio_write(gpu::offset_of(reg).value, 4, v); }

  // Frontend pushes (spec §10).
  void attach_guest_memory(std::unique_ptr<GuestMemory> mem);
  void set_dma_deny(std::vector<DenyRange> ranges);
  void set_lock(bool locked, std::uint64_t owner);
  // Between command buffers (benchmarks compare runs with one by one).
  void set_decrypt_runs(DecryptRunLimits limits);
  void reset();

  // Consumes up to `max_entries` ready ring entries; returns how many.
  std::size_t run_pending(std::size_t max_entries = SIZE_MAX);
  bool has_pending() const;
  void set_doorbell_handler(std::function<void()> handler);

  // For tests and benchmarks that inspect VRAM through the backend seam.
  Backend& backend() { return *backend_; }
  const CryptoEngine& crypto() const { return crypto_; }
  std::size_t live_contexts();

 private:
  struct Latches {  // guarded by regs_mu_
    std::uint32_t scratch = 0;
    std::array<std::uint32_t, 4> args{};
    std::array<std::uint32_t, 8> key_window{};
    std::uint32_t ring_base_lo = 0, ring_base_hi = 0, ring_size = 0;
    std::uint32_t cmd_status = 0, result0 = 0, result1 = 0;
  };
  struct AdminResult {
    Status status;
    std::uint32_t r0 = 0, r1 = 0;
  };

  std::uint32_t read_reg(gpu::Reg32 reg);
  void write_reg(gpu::Reg32 reg, std::uint32_t value);
  void count_refusal();
  void doorbell(std::uint32_t producer);
  void admin(std::uint32_t opcode);
  AdminResult admin_locked(std::uint32_t opcode, const std::array<std::uint32_t, 4>& args,
                           std::span<const std::uint8_t, kKeyBytes> key, const Latches& l);
  AdminResult ring_start_locked(const Latches& l);
  // The ledger entry for a key being installed; nullptr when the ledger is
  // full (spec §4.1).
  KeyLedger::Counters* enter_key_locked(std::span<const std::uint8_t, kKeyBytes> key);
  void scrub_locked();
  void unpin_guest_locked();
  // Everything back to reset values; exec_mu_ held.
  void reset_state_locked();
  bool process_one_locked();
  void complete_locked(const hix_vgpu_ring_entry& e, Status s, std::uint32_t op_index);

  // Lock order: exec_mu_ before regs_mu_. exec_mu_ guards the device state
  // (contexts, VRAM, keys, ring configuration, DMA, backend, crypto engine)
  // and is held while a ring entry runs; regs_mu_ guards the latches.
  std::mutex exec_mu_;
  std::mutex regs_mu_;

  DeviceConfig config_;
  std::unique_ptr<Backend> backend_;
  VramAllocator vram_;
  ContextTable contexts_;
  DmaEngine dma_;
  CryptoEngine crypto_;
  LoopRecordings recordings_;
  std::vector<std::span<std::byte>> pinned_;  // guest RAM the backend pinned
  SecretKey channel_key_;
  KeyLedger ledger_;  // every key installed since the last scrub (spec §4.1)
  KeyLedger::Counters* channel_counters_ = nullptr;  // channel_key_'s, or none
  std::uint64_t expected_seq_ = 1;                   // mirrors channel_counters_->next_seq
  GuestPhys ring_base_{0};
  std::vector<std::byte> cmd_staging_;  // the device's copy of a command buffer
  std::uint64_t lock_owner_ = 0;
  Latches latches_;
  std::function<void()> doorbell_handler_;

  // Polled state, readable without locks.
  std::atomic<bool> error_{false};
  std::atomic<bool> locked_{false};
  std::atomic<bool> protected_{false};
  std::atomic<bool> ring_enabled_{false};
  std::atomic<std::uint32_t> ring_entries_{0};
  std::atomic<std::uint32_t> head_{0};
  std::atomic<std::uint32_t> producer_{0};
  std::atomic<std::uint32_t> seq_low_{1};
  std::atomic<std::uint32_t> fence_{0};
  std::atomic<std::uint32_t> badacc_{0};
  std::atomic<std::uint32_t> exec_errors_{0};
  std::atomic<std::uint32_t> last_error_{0};
  std::atomic<std::uint32_t> last_error_fence_{0};
  std::atomic<std::uint32_t> ring_forged_{0};
  std::atomic<std::uint32_t> ring_replayed_{0};
  std::atomic<std::uint32_t> ring_reordered_{0};
  std::atomic<std::uint32_t> ring_malformed_{0};
  std::atomic<std::uint32_t> cmd_rejects_{0};
};

}  // namespace hix::vgpu
