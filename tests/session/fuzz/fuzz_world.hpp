// The fuzz targets' fixed world: the session core on the device model (cpu
// backend, a host buffer as guest RAM) with a deterministic platform, one
// session opened by a client with a fixed key, and the synthetic session
// table the validator target checks against. Deterministic, so that seeds
// (sealed with these keys) authenticate on every run.
#pragma once

#include <sodium.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "cpu_backend.hpp"
#include "device.hpp"
#include "guest_memory.hpp"
#include "hix/session/message.hpp"
#include "hix/session/service.hpp"

namespace hix::session::fuzz {

using Bytes = std::vector<std::uint8_t>;

class DeviceMmio final : public Mmio {
 public:
  explicit DeviceMmio(vgpu::Device& dev) : dev_(dev) {}
  std::uint32_t read32(gpu::Reg32 reg) override { return dev_.read32(reg); }
  void write32(gpu::Reg32 reg, std::uint32_t value) override { dev_.write32(reg, value); }

 private:
  vgpu::Device& dev_;
};

// Guest RAM from calloc: zero pages the kernel hands out lazily (a
// value-initialised vector costs milliseconds per input under ASan).
class CallocGuestMemory final : public vgpu::RegionGuestMemory {
 public:
  CallocGuestMemory(std::uint64_t base, std::uint64_t size)
      : host_(static_cast<std::byte*>(std::calloc(size, 1))) {
    if (host_ == nullptr) __builtin_trap();
    regions_.push_back(Region{vgpu::GuestPhys{base}, size, host_});
  }
  ~CallocGuestMemory() override { std::free(host_); }
  CallocGuestMemory(const CallocGuestMemory&) = delete;
  CallocGuestMemory& operator=(const CallocGuestMemory&) = delete;
  std::byte* host() { return host_; }

 private:
  std::byte* host_;
};

// Randomness from a fixed key and a counter; reports are zeros signed by
// nobody (the fuzz targets do not check attestation).
class FixedPlatform final : public Platform {
 public:
  void random(std::span<std::uint8_t> out) override {
    static constexpr std::array<std::uint8_t, 32> kKey{1, 2, 3, 4, 5, 6, 7, 8};
    for (std::size_t done = 0; done < out.size();) {
      std::array<std::uint8_t, 64> block{};
      const std::uint64_t n = counter_++;
      crypto_generichash(block.data(), block.size(), reinterpret_cast<const std::uint8_t*>(&n),
                         sizeof n, kKey.data(), kKey.size());
      const std::size_t take = std::min(block.size(), out.size() - done);
      std::memcpy(out.data() + done, block.data(), take);
      done += take;
    }
  }
  [[nodiscard]] bool report(ReportData /*data*/, ReportOut out) override {
    std::memset(out.data(), 0, out.size());
    return true;
  }

 private:
  std::uint64_t counter_ = 0;
};

struct World {
  static constexpr std::uint64_t kRamBase = 0x100000;
  static constexpr std::uint64_t kRamSize = 1ull << 20;
  static constexpr std::uint64_t kRingBytes = 4096 + (128ull << 10);
  static constexpr std::uint64_t kWindow = kRamBase + (512ull << 10);
  static constexpr std::uint64_t kExtent = 64ull << 10;

  World() {
    auto backend = vgpu::CpuBackend::create(256ull << 10);
    if (!backend.ok()) __builtin_trap();
    dev = std::make_unique<vgpu::Device>(std::move(*backend));
    auto mem = std::make_unique<CallocGuestMemory>(kRamBase, kRamSize);
    ram = mem.get();
    dev->attach_guest_memory(std::move(mem));
    dev->set_lock(true, 0x42);
    mmio = std::make_unique<DeviceMmio>(*dev);
    service = std::make_unique<Service>(*mmio, memory, platform);
  }

  std::uint64_t linear(std::uint64_t gpa) {
    return reinterpret_cast<std::uint64_t>(ram->host() + (gpa - kRamBase));
  }

  // INIT and OPEN with the fixed client key; false if either failed.
  bool start() {
    gpu_enclave_init init{};
    init.ring_entries = 16;
    init.ring = gpu_enclave_area{linear(kRamBase), kRamBase, kRingBytes};
    service->init(init);
    if (init.status != HIX_SESSION_OK) return false;
    std::array<std::uint8_t, 32> seed{9};
    crypto_kx_seed_keypair(cpk.data(), csk.data(), seed.data());
    gpu_enclave_open open{};
    std::memcpy(open.client_pk, cpk.data(), 32);
    open.extent_count = 2;
    open.extents[0] = gpu_enclave_area{linear(kWindow), kWindow, kExtent};
    open.extents[1] = gpu_enclave_area{linear(kWindow + kExtent), kWindow + kExtent, kExtent};
    service->open(open);
    if (open.status != HIX_SESSION_OK) return false;
    sid = open.session;
    if (crypto_kx_client_session_keys(k_e2c.data(), k_c2e.data(), cpk.data(), csk.data(),
                                      open.enclave_pk) != 0) {
      return false;
    }
    return true;
  }

  Bytes seal(std::uint16_t type, std::span<const std::uint8_t> plain, std::uint64_t counter) {
    Bytes out(kMsgOverhead + plain.size());
    if (!plain.empty()) std::memcpy(out.data() + kMsgHeaderBytes, plain.data(), plain.size());
    const hix_msg_header h = make_header(HIX_MSG_TO_ENCLAVE, type, sid, counter,
                                         static_cast<std::uint32_t>(plain.size()));
    if (!seal_in_place(out, h, k_c2e)) __builtin_trap();
    return out;
  }

  std::unique_ptr<vgpu::Device> dev;
  CallocGuestMemory* ram = nullptr;  // owned by dev
  std::unique_ptr<DeviceMmio> mmio;
  ProcessMemory memory;
  FixedPlatform platform;
  std::unique_ptr<Service> service;
  std::array<std::uint8_t, 32> cpk{}, csk{};
  Key k_c2e{}, k_e2c{};
  std::uint32_t sid = 0;
};

// The validator target's session: two f32 buffers (4096 bytes each), a
// window of two adjacent 1 MiB extents, key slots 0 and 2, input ids used up
// to 10.
inline constexpr std::uint32_t kBufA = 0x00010001;
inline constexpr std::uint32_t kBufB = 0x00020002;
inline constexpr std::uint64_t kBufBytes = 4096;
inline constexpr std::uint64_t kExtent0 = 0x2000000;
inline constexpr std::uint64_t kExtentBytes = 1ull << 20;

inline Session synthetic_session() {
  Session s;
  s.live = true;
  s.id = 1;
  s.ctx = 0x10001;
  if (!s.add_buffer(kBufA, kBufBytes) || !s.add_buffer(kBufB, kBufBytes)) __builtin_trap();
  s.extents[0] = Extent{0, GuestPhys{kExtent0}, kExtentBytes};
  s.extents[1] = Extent{kExtentBytes, GuestPhys{kExtent0 + kExtentBytes}, kExtentBytes};
  s.extent_count = 2;
  s.slots = 1u | (1u << 2);
  s.highest_input_id = 10;
  return s;
}

}  // namespace hix::session::fuzz
