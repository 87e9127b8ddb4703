// GpuSession: an in-process hix-gpu driver for the model tools and
// benchmarks (hix-model-run, hix-bench). It drives a Device exactly as the
// QEMU frontend and a guest driver would (BAR0 register writes, admin
// commands, ring entries in guest memory; tests/vgpu/fake_bus.hpp is the
// gtest twin), with a large lazily-touched guest RAM and the cpu or cuda
// backend.
//
// Protected and plain mode run the same command buffers except the DMA ops:
// protected mode engages the lock, installs a channel key (every ring entry
// authenticated and encrypted) and a key slot, and moves data with
// DMA_IN_DECRYPT / DMA_OUT_ENCRYPT; plain mode installs no key and uses
// DMA_IN / DMA_OUT over an unauthenticated ring.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "device.hpp"
#include "hix/vgpu/cmdbuf_builder.hpp"
#include "sealed_chunk.hpp"
#include "secret_key.hpp"
#include "status.hpp"

namespace hix::gpu_tools {

using vgpu::Result;
using vgpu::Status;

enum class BackendKind : std::uint8_t { cpu, cuda };
enum class Mode : std::uint8_t { protected_mode, plain };

std::string_view to_string(BackendKind k);
std::string_view to_string(Mode m);
// "cpu"/"cuda", "protected"/"plain"; false when the word is neither.
bool parse_backend(std::string_view s, BackendKind& out);
bool parse_mode(std::string_view s, Mode& out);
// Whether this build carries the cuda backend (HIX_HAVE_CUDA_BACKEND).
bool cuda_backend_built();

struct SessionConfig {
  BackendKind backend = BackendKind::cpu;
  Mode mode = Mode::protected_mode;
  std::uint64_t vram_bytes = 64ull << 20;
  std::uint64_t guest_ram_bytes = 64ull << 20;
  std::uint32_t ring_entries = 64;
};

// Host bytes bound for VRAM: where they wait in guest memory and under which
// tensor id (protected mode: sealed; plain mode: as they are).
struct StagedTensor {
  std::uint64_t gpa = 0;
  std::uint64_t bytes = 0;      // plaintext size
  std::uint64_t tensor_id = 0;  // 0 in plain mode
};

// Writes tensor `index`'s plaintext into `out` (exactly its size).
using TensorProducer = std::function<Status(std::size_t index, std::span<std::byte> out)>;

// The alignment of a guest_alloc(), in bytes.
struct GuestAlign {
  std::uint64_t bytes = 64;
};

class GpuSession {
 public:
  static constexpr std::uint64_t kRamBase = 0x100000;
  static constexpr std::uint32_t kKeySlot = 0;
  static constexpr std::uint64_t kLockOwner = 0x4849580001ull;

  // unavailable when the cuda backend is asked and not built or no GPU is
  // present; no_memory when VRAM or guest RAM cannot be had.
  static Result<std::unique_ptr<GpuSession>> create(const SessionConfig& cfg);
  ~GpuSession();
  GpuSession(const GpuSession&) = delete;
  GpuSession& operator=(const GpuSession&) = delete;

  Mode mode() const { return cfg_.mode; }
  bool is_protected() const { return cfg_.mode == Mode::protected_mode; }
  BackendKind backend_kind() const { return cfg_.backend; }
  vgpu::Device& device() { return *dev_; }
  vgpu::Backend& backend() { return dev_->backend(); }
  std::uint32_t context() const { return ctx_; }

  // ---- Device memory (admin MEM_ALLOC / MEM_FREE) ----
  Result<std::uint32_t> alloc(std::uint64_t bytes);
  Status free(std::uint32_t handle);

  // ---- Guest memory: a bump allocator over guest RAM ----
  // `bytes` at the next multiple of `align`.
  Result<std::uint64_t> guest_alloc(std::uint64_t bytes, GuestAlign align = {});
  // Everything allocated after a mark is released by release(mark).
  std::uint64_t guest_mark() const { return next_gpa_; }
  void guest_release(std::uint64_t mark) { next_gpa_ = mark; }
  std::span<std::byte> guest(std::uint64_t gpa, std::uint64_t len);

  // ---- Data in and out, by mode ----
  // Bytes a staged tensor of `bytes` plaintext bytes takes in guest memory.
  std::uint64_t staged_size(std::uint64_t bytes) const;
  // Puts `plain` into guest memory for a DMA in: sealed under the session
  // key with a fresh host tensor id (protected), or copied (plain).
  Result<StagedTensor> stage(std::span<const std::byte> plain);
  // The same for many tensors whose plaintext `produce` writes, produced
  // and sealed in parallel on `threads` threads (0: all hardware threads),
  // one tensor in host memory per thread. Guest memory and consecutive
  // tensor ids are assigned in index order.
  Result<std::vector<StagedTensor>> stage_many(std::span<const std::uint64_t> sizes,
                                               const TensorProducer& produce, unsigned threads = 0);
  // DMA of a staged tensor into `dst`: DMA_IN_DECRYPT or DMA_IN.
  void dma_in(vgpu::CmdbufBuilder& b, const hix_vgpu_tref& dst, const StagedTensor& t) const;

  // Room in guest memory for `bytes` bytes of output and a fresh device
  // tensor id (protected mode).
  Result<StagedTensor> prepare_out(std::uint64_t bytes);
  // DMA of `src` out to a prepared place: DMA_OUT_ENCRYPT or DMA_OUT.
  void dma_out(vgpu::CmdbufBuilder& b, const hix_vgpu_tref& src, const StagedTensor& t) const;
  // Reads a completed output: opens it (protected; AUTH_FAILED if it does
  // not verify) or copies it (plain).
  Status read_out(const StagedTensor& t, std::span<std::byte> out);

  // ---- The ring ----
  // Submits one command buffer as the next ring entry (authenticated and
  // encrypted in protected mode), rings the doorbell and waits for it and
  // for the backend. The status it completed with.
  Status submit(std::span<const std::byte> cmdbuf);
  Status submit(const vgpu::CmdbufBuilder& b) { return submit(b.finish()); }

  // Device counters, for reports and tests.
  std::uint32_t auth_failures() { return dev_->read32(gpu::Reg32::auth_failures); }
  std::uint32_t ring_rejects();

  // The session key (tests tamper with sealed tensors; the bench seals with it).
  std::span<const std::uint8_t, vgpu::kKeyBytes> session_key() const { return session_key_; }

 private:
  struct AdminOut {
    Status status;
    std::uint32_t r0, r1;
  };
  explicit GpuSession(const SessionConfig& cfg) : cfg_(cfg) {}
  Status init();
  AdminOut admin(std::uint32_t cmd, std::uint32_t a0 = 0, std::uint32_t a1 = 0,
                 std::uint32_t a2 = 0, std::uint32_t a3 = 0);
  AdminOut admin_with_key(std::uint32_t cmd, std::span<const std::uint8_t, vgpu::kKeyBytes> key,
                          std::uint32_t a0 = 0, std::uint32_t a1 = 0);

  SessionConfig cfg_;
  std::unique_ptr<vgpu::Device> dev_;
  std::byte* ram_ = nullptr;  // host view of guest RAM (owned by dev_)
  std::uint64_t ram_size_ = 0;
  std::uint32_t ctx_ = 0;
  std::array<std::uint8_t, vgpu::kKeyBytes> channel_key_{};
  std::array<std::uint8_t, vgpu::kKeyBytes> session_key_{};
  std::uint64_t ring_gpa_ = 0;
  std::uint64_t cmd_gpa_ = 0;
  std::uint64_t next_gpa_ = 0;
  std::uint64_t next_seq_ = 1;
  std::uint32_t producer_ = 0;
  std::uint32_t last_fence_ = 0;
  std::uint64_t next_host_tensor_ = 1;
  std::uint64_t next_device_tensor_ = vgpu::kDeviceTensorBit | 1;
};

}  // namespace hix::gpu_tools
