// The device the fuzz targets attack: small VRAM and op budget (so every
// input runs fast), a context with four buffers and a key slot, guest RAM of
// 1 MiB at 0x100000 with the ring at its start.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>

#include "cpu_backend.hpp"
#include "device.hpp"

namespace hix::vgpu::fuzz {

inline constexpr std::uint64_t kRamBase = 0x100000;
inline constexpr std::uint64_t kRamSize = 1 << 20;
inline constexpr std::uint32_t kRingEntries = 16;
inline constexpr std::uint64_t kCmdGpa = kRamBase + 0x10000;

inline std::uint32_t w32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  std::memcpy(&v, p, 4);
  return v;
}

struct Harness {
  std::unique_ptr<Device> dev;
  BufferGuestMemory* ram = nullptr;
  std::uint32_t ctx = 0;
  std::uint32_t producer = 0;

  Harness() {
    auto backend = CpuBackend::create(64 << 10);
    dev = std::make_unique<Device>(std::move(*backend), DeviceConfig{64, true});
    auto mem = std::make_unique<BufferGuestMemory>(GuestPhys{kRamBase}, kRamSize);
    ram = mem.get();
    dev->attach_guest_memory(std::move(mem));
    dev->set_dma_deny({DenyRange{GuestPhys{kRamBase + 0x80000}, 0x1000}});
    setup();
  }

  std::uint32_t admin(std::uint32_t cmd, std::uint32_t a0 = 0, std::uint32_t a1 = 0) {
    dev->write32(gpu::Reg32::arg0, a0);
    dev->write32(gpu::Reg32::arg1, a1);
    dev->write32(gpu::Reg32::arg2, 0);
    dev->write32(gpu::Reg32::cmd, cmd);
    return dev->read32(gpu::Reg32::result0);
  }

  // Context, buffers of 256, 1024, 4096 and 16384 bytes, key slot 0, the
  // ring at the start of RAM.
  void setup() {
    ctx = admin(HIX_GPU_CMD_CTX_CREATE);
    for (const std::uint32_t size : {256u, 1024u, 4096u, 16384u}) {
      admin(HIX_GPU_CMD_MEM_ALLOC, ctx, size);
    }
    set_key_window(1);
    admin(HIX_GPU_CMD_KEY_SLOT_INSTALL, ctx, 0);
    dev->write32(gpu::Reg32::ring_base_lo, static_cast<std::uint32_t>(kRamBase));
    dev->write32(gpu::Reg32::ring_size, kRingEntries);
    admin(HIX_GPU_CMD_RING_START);
    producer = 0;
  }

  void set_key_window(std::uint8_t seed) {
    for (std::uint32_t i = 0; i < 8; ++i) {
      dev->mmio_write(gpu::offset_of(gpu::Reg32::key0).value + 4 * i, 4, seed * 0x01010101u + i);
    }
  }
  static std::array<std::uint8_t, kKeyBytes> key(std::uint8_t seed) {
    std::array<std::uint8_t, kKeyBytes> k{};
    for (std::uint32_t i = 0; i < 8; ++i) {
      const std::uint32_t w = seed * 0x01010101u + i;
      std::memcpy(k.data() + 4 * i, &w, 4);
    }
    return k;
  }

  void guest_write(std::uint64_t gpa, const void* p, std::size_t n) {
    std::memcpy(ram->bytes().data() + (gpa - kRamBase), p, n);
  }

  // Writes an entry in the next ring slot and rings the doorbell.
  void submit(const hix_vgpu_ring_entry& e) {
    guest_write(kRamBase + (producer % kRingEntries) * sizeof e, &e, sizeof e);
    ++producer;
    dev->write32(gpu::Reg32::doorbell, producer);
  }
};

}  // namespace hix::vgpu::fuzz
