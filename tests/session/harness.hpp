// The session core's test harness: the real device model in-process
// (hix::vgpu::Device, cpu backend, a host buffer standing for guest RAM), a
// platform that signs reports with a test Ed25519 key, and a client written
// from docs/specs/hix-session.md independently of the core (its own key
// schedule, sealing and opening).
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "device.hpp"
#include "guest_memory.hpp"
#include "hix/abi/hix_isa.h"
#include "hix/session/service.hpp"

namespace hix::session::test {

using Bytes = std::vector<std::uint8_t>;
using Key32 = std::array<std::uint8_t, 32>;

// BAR0 of the device model. After fail() it reads as the QEMU frontend's
// device whose server is gone (hix-gpu spec §10.6): ID and VERSION, STATUS
// with ERROR, every other read all ones, writes dropped.
class DeviceMmio final : public Mmio {
 public:
  explicit DeviceMmio(vgpu::Device& dev) : dev_(dev) {}
  std::uint32_t read32(gpu::Reg32 reg) override {
    if (!failed_ || reg == gpu::Reg32::id || reg == gpu::Reg32::version) return dev_.read32(reg);
    return reg == gpu::Reg32::status ? gpu::status::error : HIX_GPU_REFUSED_READ;
  }
  void write32(gpu::Reg32 reg, std::uint32_t value) override {
    if (!failed_) dev_.write32(reg, value);
  }
  void fail() { failed_ = true; }

 private:
  vgpu::Device& dev_;
  bool failed_ = false;
};

// Randomness from libsodium; reports as a correct platform makes them,
// signed with a key made for the test.
class TestPlatform final : public Platform {
 public:
  TestPlatform();
  void random(std::span<std::uint8_t> out) override;
  [[nodiscard]] bool report(ReportData data, ReportOut out) override;

  Key32 public_key{};
  std::array<std::uint8_t, 64> secret_key{};
  Key32 mrenclave{};
  bool refuse_reports = false;
  int reports = 0;
};

// The device, its guest RAM and the layout the tests use in it: the ring
// area first, then one window per session index (two physically adjacent
// 1 MiB extents each).
class Bus {
 public:
  static constexpr std::uint64_t kRamBase = 0x100000;
  static constexpr std::uint64_t kRamSize = 40ull << 20;
  static constexpr std::uint64_t kVram = 16ull << 20;
  static constexpr std::uint32_t kRingEntries = 64;
  static constexpr std::uint64_t kRingBytes = 4096 + (1ull << 20);  // entries, command buffer
  static constexpr std::uint64_t kExtentBytes = 1ull << 20;
  static constexpr std::uint64_t kWindowBase = kRamBase + (2ull << 20);
  static constexpr std::uint64_t kWindowStride = 4ull << 20;
  static constexpr std::uint64_t kLockOwner = 0x4849580042ull;

  explicit Bus(bool locked = true);

  vgpu::Device& device() { return *dev_; }
  Linear linear(std::uint64_t gpa);
  std::span<std::uint8_t> guest(std::uint64_t gpa, std::uint64_t len);
  gpu_enclave_area ring_area();
  // Window i's extents: [w, w + 1 MiB), [w + 1 MiB, w + 2 MiB).
  std::uint64_t window_gpa(std::uint32_t index) const {
    return kWindowBase + std::uint64_t{index} * kWindowStride;
  }
  gpu_enclave_area extent(std::uint32_t window, std::uint32_t i);
  // All of VRAM as the backend holds it.
  Bytes vram();

 private:
  std::unique_ptr<vgpu::Device> dev_;
  vgpu::BufferGuestMemory* ram_ = nullptr;  // owned by dev_
};

// A response the client opened.
struct Reply {
  Status status = Status::internal;
  std::uint32_t detail = 0;
  Bytes data;
};

// The client's half of the protocol, from the spec alone.
class Client {
 public:
  Client();
  // §3.2: the report verifies under the platform key and the expected
  // MRENCLAVE and binds epk, cpk, the nonce and sid; then §3.3's keys.
  [[nodiscard]] ::testing::AssertionResult accept(const gpu_enclave_open& reply,
                                                  const TestPlatform& platform);
  // Plain mode: no report, keys all the same.
  void accept_plain(const gpu_enclave_open& reply);
  // The sealed request with the next counter (or `counter` when given).
  Bytes seal(std::uint16_t type, std::span<const std::uint8_t> plain,
             std::optional<std::uint64_t> counter = std::nullopt);
  // Opens a response to `type`: checks the header against the expected
  // counter, the session and the type, then the tag.
  [[nodiscard]] std::optional<Reply> open(std::span<const std::uint8_t> sealed, std::uint16_t type);

  Key32 cpk{}, csk{}, nonce{};
  Key32 epk{};
  std::uint32_t sid = 0;
  Key32 k_c2e{}, k_e2c{}, k_t{};
  std::uint64_t send_counter = 1;
  std::uint64_t recv_counter = 1;
};

// What one CALL produced.
struct CallResult {
  CallBuffer buffer = CallBuffer::bad_size;
  Status status = Status::internal;  // the CALL header's status
  std::uint32_t detail = 0;
  Bytes response;  // sealed
};

// A Service on the device model with INIT done, and the helpers the tests
// share.
class SessionTest : public ::testing::Test {
 public:
  explicit SessionTest(Mode mode = Mode::protected_mode, bool skip_validation = false);

  void init();
  gpu_enclave_open open_request(const Client& c, std::uint32_t window);
  // OPEN for window `window`; the client accepts the reply.
  Client open(std::uint32_t window = 0);

  CallResult call_raw(std::uint32_t session, std::span<const std::uint8_t> sealed);
  // Seals, calls, opens; nullopt when the call was rejected unsealed.
  std::optional<Reply> request(Client& c, std::uint16_t type, std::span<const std::uint8_t> plain);
  std::vector<std::uint32_t> alloc(Client& c, std::span<const std::uint64_t> sizes);
  Reply submit(Client& c, std::span<const std::byte> cmdbuf);
  void model_key(Client& c, std::uint32_t slot, const Key32& key);

  // Seals `plain` under `key` (slot `slot`, id `id`) into window memory at `gpa`.
  void put_sealed(std::uint64_t gpa, std::span<const std::uint8_t> plain, std::uint8_t slot,
                  std::uint64_t id, const Key32& key);
  // Opens a tensor the device sealed at `gpa`.
  [[nodiscard]] bool get_sealed(std::uint64_t gpa, std::span<std::uint8_t> plain, std::uint64_t id,
                                const Key32& key);

  gpu_enclave_stats stats();

  Bus bus;
  DeviceMmio mmio{bus.device()};
  ProcessMemory memory;
  TestPlatform platform;
  std::unique_ptr<Service> service;
};

// A float pattern's bytes.
Bytes pattern(std::size_t floats, float seed);

}  // namespace hix::session::test
