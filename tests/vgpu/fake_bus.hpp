// A fake bus for device tests: a Device whose guest RAM is a buffer, driven
// only through BAR0 accesses (as the QEMU frontend would forward them) and
// ring entries written into that RAM (as a driver would).
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "cpu_backend.hpp"
#include "device.hpp"
#include "hix/vgpu/bf16.hpp"
#include "hix/vgpu/cmdbuf_builder.hpp"
#include "ring_auth.hpp"

namespace hix::vgpu::test {

using gpu::Reg32;
using Key = std::array<std::uint8_t, kKeyBytes>;

inline Key make_key(std::uint8_t seed) {
  Key k{};
  for (std::size_t i = 0; i < k.size(); ++i)
    k[i] = static_cast<std::uint8_t>(std::size_t{seed} * 31 + i * 7);
  return k;
}

struct AdminOut {
  Status status;
  std::uint32_t r0, r1;
};

// Buffer `handle` of context `ctx`.
struct CtxBuffer {
  std::uint32_t ctx = 0;
  std::uint32_t handle = 0;
};

class FakeBus {
 public:
  static constexpr std::uint64_t kRamBase = 0x100000;
  static constexpr std::uint64_t kRamSize = 64ull << 20;
  static constexpr std::uint64_t kRingGpa = kRamBase;

  explicit FakeBus(std::uint64_t vram = 16ull << 20, DeviceConfig cfg = {})
      : FakeBus(cpu_backend(vram), std::move(cfg)) {}

  // A device on another backend (a test double wrapping the cpu backend).
  explicit FakeBus(std::unique_ptr<Backend> backend, DeviceConfig cfg = {}) {
    dev = std::make_unique<Device>(std::move(backend), std::move(cfg));
    auto mem = std::make_unique<BufferGuestMemory>(GuestPhys{kRamBase}, kRamSize);
    ram = mem.get();
    dev->attach_guest_memory(std::move(mem));
  }

  static std::unique_ptr<Backend> cpu_backend(std::uint64_t vram) {
    auto backend = CpuBackend::create(vram);
    EXPECT_TRUE(backend.ok());
    return backend ? std::move(*backend) : nullptr;
  }

  std::uint32_t reg(Reg32 r) { return dev->read32(r); }
  void write(Reg32 r, std::uint32_t v) { dev->write32(r, v); }

  AdminOut admin(std::uint32_t cmd, std::uint32_t a0 = 0, std::uint32_t a1 = 0,
                 std::uint32_t a2 = 0, std::uint32_t a3 = 0) {
    write(Reg32::arg0, a0);
    write(Reg32::arg1, a1);
    write(Reg32::arg2, a2);
    write(Reg32::arg3, a3);
    write(Reg32::cmd, cmd);
    return {static_cast<Status>(reg(Reg32::cmd_status)), reg(Reg32::result0), reg(Reg32::result1)};
  }
  AdminOut admin_with_key(std::uint32_t cmd, const Key& key, std::uint32_t a0 = 0,
                          std::uint32_t a1 = 0) {
    for (std::size_t i = 0; i < 8; ++i) {
      std::uint32_t w = 0;
      std::memcpy(&w, key.data() + 4 * i, 4);
      dev->mmio_write(gpu::offset_of(Reg32::key0).value + 4 * i, 4, w);
    }
    return admin(cmd, a0, a1);
  }

  std::uint32_t create_context() {
    const auto r = admin(HIX_GPU_CMD_CTX_CREATE);
    EXPECT_EQ(r.status, Status::ok);
    return r.r0;
  }
  std::uint32_t alloc(std::uint32_t ctx, std::uint64_t size) {
    const auto r = admin(HIX_GPU_CMD_MEM_ALLOC, ctx, static_cast<std::uint32_t>(size),
                         static_cast<std::uint32_t>(size >> 32));
    EXPECT_EQ(r.status, Status::ok) << to_string(r.status);
    return r.r0;
  }
  void install_channel_key(const Key& key) {
    ASSERT_EQ(admin_with_key(HIX_GPU_CMD_CHANNEL_KEY_INSTALL, key).status, Status::ok);
    channel_key = key;
    next_seq = reg(Reg32::ring_seq);  // the key's own sequence (spec §4.1): 1 for a new key
  }
  void install_slot(std::uint32_t ctx, std::uint32_t slot, const Key& key) {
    ASSERT_EQ(admin_with_key(HIX_GPU_CMD_KEY_SLOT_INSTALL, key, ctx, slot).status, Status::ok);
  }
  void start_ring(std::uint32_t entries = 64) {
    write(Reg32::ring_base_lo, static_cast<std::uint32_t>(kRingGpa));
    write(Reg32::ring_base_hi, static_cast<std::uint32_t>(kRingGpa >> 32));
    write(Reg32::ring_size, entries);
    ASSERT_EQ(admin(HIX_GPU_CMD_RING_START).status, Status::ok);
    ring_entries = entries;
    producer = 0;
    next_gpa = kRingGpa + std::uint64_t{entries} * HIX_VGPU_RING_ENTRY_BYTES;
  }

  // Guest memory: a bump allocator after the ring.
  std::uint64_t guest_alloc(std::uint64_t bytes) {
    const std::uint64_t at = (next_gpa + 63) / 64 * 64;
    next_gpa = at + bytes;
    EXPECT_LE(next_gpa, kRamBase + kRamSize);
    return at;
  }
  std::span<std::byte> guest(std::uint64_t gpa, std::uint64_t len) {
    return ram->bytes().subspan(gpa - kRamBase, len);
  }
  void guest_write(std::uint64_t gpa, std::span<const std::byte> data) {
    std::memcpy(guest(gpa, data.size()).data(), data.data(), data.size());
  }

  // An entry for `cmd` (already in guest memory at cmd_gpa), sealed in
  // protected mode with seq; `cmd_plain` is encrypted into guest memory.
  hix_vgpu_ring_entry make_entry(std::uint32_t ctx, std::span<const std::byte> cmd_plain,
                                 std::uint64_t cmd_gpa, std::uint32_t fence, std::uint64_t seq) {
    hix_vgpu_ring_entry e{};
    e.seq = seq;
    e.ctx = ctx;
    e.cmd_gpa = cmd_gpa;
    e.cmd_len = static_cast<std::uint32_t>(cmd_plain.size());
    e.fence = fence;
    std::vector<std::byte> body(cmd_plain.begin(), cmd_plain.end());
    if (channel_key) seal_ring_entry(e, body, *channel_key);
    guest_write(cmd_gpa, body);
    return e;
  }
  void write_entry(const hix_vgpu_ring_entry& e) {
    const std::uint64_t slot =
        kRingGpa + std::uint64_t{producer % ring_entries} * HIX_VGPU_RING_ENTRY_BYTES;
    guest_write(slot, std::as_bytes(std::span(&e, 1)));
    ++producer;
  }
  void doorbell() { write(Reg32::doorbell, producer); }

  // Submits `cmd` as the next entry and rings the doorbell; returns the
  // status the entry completed with (OK when EXEC_ERRORS did not move).
  Status submit(std::uint32_t ctx, const std::vector<std::byte>& cmd) {
    const std::uint32_t errors = reg(Reg32::exec_errors);
    const std::uint32_t fence = ++last_fence;
    write_entry(make_entry(ctx, cmd, guest_alloc(cmd.size()), fence, next_seq++));
    doorbell();
    EXPECT_EQ(reg(Reg32::fence), fence) << "entry did not complete";
    if (reg(Reg32::exec_errors) == errors) return Status::ok;
    return static_cast<Status>(reg(Reg32::last_error) & 0xFFFF);
  }
  Status submit(std::uint32_t ctx, const CmdbufBuilder& b) { return submit(ctx, b.finish()); }

  // Plain-mode upload/download of float data through DMA_IN / DMA_OUT.
  void upload(CtxBuffer buf, std::span<const float> v, std::uint8_t dtype = HIX_VGPU_DT_F32,
              std::uint64_t offset = 0) {
    const std::uint32_t ctx = buf.ctx;
    const std::uint32_t handle = buf.handle;
    std::vector<std::byte> bytes = encode(v, dtype);
    const std::uint64_t gpa = guest_alloc(bytes.size());
    guest_write(gpa, bytes);
    CmdbufBuilder b;
    b.dma(HIX_VGPU_OP_DMA_IN, tref(handle, dtype, offset), {.gpa = gpa, .bytes = bytes.size()});
    ASSERT_EQ(submit(ctx, b), Status::ok);
  }
  std::vector<float> download(CtxBuffer buf, std::size_t count,
                              std::uint8_t dtype = HIX_VGPU_DT_F32, std::uint64_t offset = 0) {
    const std::uint32_t ctx = buf.ctx;
    const std::uint32_t handle = buf.handle;
    const std::size_t es = hix_vgpu_dtype_bytes(dtype);
    const std::uint64_t gpa = guest_alloc(count * es);
    CmdbufBuilder b;
    b.dma(HIX_VGPU_OP_DMA_OUT, tref(handle, dtype, offset), {.gpa = gpa, .bytes = count * es});
    EXPECT_EQ(submit(ctx, b), Status::ok);
    return decode(guest(gpa, count * es), dtype);
  }
  void upload_i32(CtxBuffer buf, std::span<const std::int32_t> v) {
    const std::uint32_t ctx = buf.ctx;
    const std::uint32_t handle = buf.handle;
    const std::uint64_t gpa = guest_alloc(v.size() * 4);
    guest_write(gpa, std::as_bytes(v));
    CmdbufBuilder b;
    b.dma(HIX_VGPU_OP_DMA_IN, tref(handle, HIX_VGPU_DT_I32), {.gpa = gpa, .bytes = v.size() * 4});
    ASSERT_EQ(submit(ctx, b), Status::ok);
  }
  std::vector<std::int32_t> download_i32(CtxBuffer buf, std::size_t count) {
    const std::uint32_t ctx = buf.ctx;
    const std::uint32_t handle = buf.handle;
    const std::uint64_t gpa = guest_alloc(count * 4);
    CmdbufBuilder b;
    b.dma(HIX_VGPU_OP_DMA_OUT, tref(handle, HIX_VGPU_DT_I32), {.gpa = gpa, .bytes = count * 4});
    EXPECT_EQ(submit(ctx, b), Status::ok);
    std::vector<std::int32_t> out(count);
    std::memcpy(out.data(), guest(gpa, count * 4).data(), count * 4);
    return out;
  }

  static std::vector<std::byte> encode(std::span<const float> v, std::uint8_t dtype) {
    std::vector<std::byte> out(v.size() * hix_vgpu_dtype_bytes(dtype));
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (dtype == HIX_VGPU_DT_BF16) {
        const std::uint16_t h = f32_to_bf16(v[i]);
        std::memcpy(out.data() + 2 * i, &h, 2);
      } else {
        std::memcpy(out.data() + 4 * i, &v[i], 4);
      }
    }
    return out;
  }
  static std::vector<float> decode(std::span<const std::byte> b, std::uint8_t dtype) {
    const std::size_t es = hix_vgpu_dtype_bytes(dtype);
    std::vector<float> out(b.size() / es);
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (dtype == HIX_VGPU_DT_BF16) {
        std::uint16_t h = 0;
        std::memcpy(&h, b.data() + 2 * i, 2);
        out[i] = bf16_to_f32(h);
      } else {
        std::memcpy(&out[i], b.data() + 4 * i, 4);
      }
    }
    return out;
  }

  std::unique_ptr<Device> dev;
  BufferGuestMemory* ram = nullptr;  // owned by dev
  std::optional<Key> channel_key;
  std::uint64_t next_seq = 1;
  std::uint32_t producer = 0;
  std::uint32_t ring_entries = 0;
  std::uint32_t last_fence = 0;
  std::uint64_t next_gpa = kRamBase;
};

}  // namespace hix::vgpu::test
