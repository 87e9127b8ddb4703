// INIT and OPEN (docs/specs/hix-session.md §3, §4, §9) against the device
// model: the device is scrubbed, the channel key installed and the ring
// started; the report binds the session; both sides derive the same keys.
#include <sodium.h>

#include <cstring>

#include "harness.hpp"
#include "hix/abi/hix_gpu_regs.h"
#include "hix/vgpu/cmdbuf_builder.hpp"

namespace hix::session::test {
namespace {

using gpu::Reg32;

class Init : public SessionTest {};

TEST_F(Init, ScrubsTheDeviceInstallsAChannelKeyAndStartsTheRing) {
  // What the untrusted OS planted before the enclave took over.
  vgpu::Device& dev = bus.device();
  dev.write32(Reg32::cmd, HIX_GPU_CMD_CTX_CREATE);
  ASSERT_EQ(dev.read32(Reg32::cmd_status), 0u);
  ASSERT_EQ(dev.live_contexts(), 1u);

  gpu_enclave_init io{};
  io.ring_entries = Bus::kRingEntries;
  io.ring = bus.ring_area();
  service->init(io);
  ASSERT_EQ(static_cast<Status>(io.status), Status::ok);

  EXPECT_EQ(dev.live_contexts(), 0u) << "not scrubbed";
  const std::uint32_t st = dev.read32(Reg32::status);
  EXPECT_NE(st & HIX_GPU_STATUS_LOCKED, 0u);
  EXPECT_NE(st & HIX_GPU_STATUS_PROTECTED, 0u) << "no channel key";
  EXPECT_NE(st & HIX_GPU_STATUS_RING, 0u) << "ring not started";
  EXPECT_EQ(dev.read32(Reg32::ring_seq), 1u);
  EXPECT_EQ(dev.read32(Reg32::ring_base_lo), static_cast<std::uint32_t>(Bus::kRamBase));
  EXPECT_EQ(dev.read32(Reg32::ring_size), Bus::kRingEntries);
  EXPECT_EQ(io.caps, dev.read32(Reg32::caps));
  EXPECT_EQ(std::memcmp(io.enclave_pk, service->enclave_public_key().data(), 32), 0);
  const Key32 zero{};
  EXPECT_NE(std::memcmp(io.enclave_pk, zero.data(), 32), 0);
  EXPECT_TRUE(service->initialised());
}

TEST_F(Init, RunsOnceAChannelKeyIsNeverInstalledTwice) {
  init();
  gpu_enclave_init io{};
  io.ring_entries = Bus::kRingEntries;
  io.ring = bus.ring_area();
  service->init(io);
  EXPECT_EQ(static_cast<Status>(io.status), Status::bad_request);
  EXPECT_EQ(bus.device().read32(Reg32::ring_seq), 1u);
}

TEST(InitUnlocked, ProtectedModeRefusesADeviceThatIsNotLocked) {
  Bus bus(false);
  DeviceMmio mmio(bus.device());
  ProcessMemory memory;
  TestPlatform platform;
  auto service = std::make_unique<Service>(mmio, memory, platform);
  gpu_enclave_init io{};
  io.ring_entries = Bus::kRingEntries;
  io.ring = bus.ring_area();
  service->init(io);
  EXPECT_EQ(static_cast<Status>(io.status), Status::not_ready);
  EXPECT_FALSE(service->initialised());
  EXPECT_EQ(bus.device().read32(Reg32::status) & HIX_GPU_STATUS_PROTECTED, 0u);
}

// A BAR0 that answers like a failed device (hix-gpu §10.6) or another device.
class DeadMmio final : public Mmio {
 public:
  explicit DeadMmio(std::uint32_t id) : id_(id) {}
  std::uint32_t read32(gpu::Reg32 reg) override {
    if (reg == Reg32::id) return id_;
    if (reg == Reg32::status) return HIX_GPU_STATUS_ERROR;
    return HIX_GPU_REFUSED_READ;
  }
  void write32(gpu::Reg32 /*reg*/, std::uint32_t /*value*/) override { ++writes; }
  int writes = 0;

 private:
  std::uint32_t id_;
};

TEST(InitDevice, RefusesAFailedDeviceOrOneThatIsNotAHixGpu) {
  for (const std::uint32_t id : {gpu::kIdValue, 0xFFFFFFFFu, 0x12345678u}) {
    Bus bus;
    DeadMmio mmio(id);
    ProcessMemory memory;
    TestPlatform platform;
    auto service = std::make_unique<Service>(mmio, memory, platform);
    gpu_enclave_init io{};
    io.ring_entries = Bus::kRingEntries;
    io.ring = bus.ring_area();
    service->init(io);
    EXPECT_EQ(static_cast<Status>(io.status), Status::not_ready) << std::hex << id;
    EXPECT_EQ(mmio.writes, 0) << "wrote to a device it did not recognise";
  }
}

TEST_F(Init, RefusesABadRingArea) {
  const auto attempt = [this](std::uint32_t entries, gpu_enclave_area area) {
    gpu_enclave_init io{};
    io.ring_entries = entries;
    io.ring = area;
    service->init(io);
    return static_cast<Status>(io.status);
  };
  const gpu_enclave_area good = bus.ring_area();
  EXPECT_EQ(attempt(3, good), Status::bad_request) << "not a power of two";
  EXPECT_EQ(attempt(0, good), Status::bad_request);
  EXPECT_EQ(attempt(8192, good), Status::bad_request) << "above 4096";
  gpu_enclave_area a = good;
  a.gpa += 8;
  a.linear += 8;
  EXPECT_EQ(attempt(64, a), Status::bad_request) << "not 64-byte aligned";
  a = good;
  a.bytes = std::uint64_t{64} * 64;
  EXPECT_EQ(attempt(64, a), Status::bad_request) << "no room for a command buffer";
  a = good;
  a.linear = 0;
  EXPECT_EQ(attempt(64, a), Status::bad_request) << "linear address refused";
  a = good;
  a.gpa = ~std::uint64_t{0} - 63;
  EXPECT_EQ(attempt(64, a), Status::bad_request) << "wraps";
  EXPECT_FALSE(service->initialised());
  EXPECT_EQ(attempt(64, good), Status::ok) << "a bad attempt does not spoil a later INIT";
}

class Open : public SessionTest {
 protected:
  void SetUp() override { init(); }
};

TEST_F(Open, BeforeInitNoSessionOpens) {
  auto fresh = std::make_unique<Service>(mmio, memory, platform);
  Client c;
  gpu_enclave_open io = open_request(c, 0);
  fresh->open(io);
  EXPECT_EQ(static_cast<Status>(io.status), Status::not_ready);
}

TEST_F(Open, TheReportVerifiesAndBindsEnclaveKeyClientKeyNonceAndSessionId) {
  Client c;
  gpu_enclave_open io = open_request(c, 0);
  service->open(io);
  ASSERT_EQ(static_cast<Status>(io.status), Status::ok);
  EXPECT_NE(io.session, 0u);
  EXPECT_EQ(std::memcmp(io.enclave_pk, service->enclave_public_key().data(), 32), 0);
  EXPECT_TRUE(c.accept(io, platform));
  hix_report r{};
  std::memcpy(&r, io.report, sizeof r);
  const std::array<std::uint8_t, 32> zero{};
  EXPECT_EQ(std::memcmp(r.report_data + 32, zero.data(), 32), 0) << "report_data[32..63] = 0";

  // Another client's nonce, key or the wrong session id: the binding fails.
  Client other = c;
  other.nonce[0] ^= 1;
  EXPECT_FALSE(other.accept(io, platform));
  other = c;
  other.cpk[5] ^= 1;
  EXPECT_FALSE(other.accept(io, platform));
  gpu_enclave_open wrong_sid = io;
  wrong_sid.session += 1;
  EXPECT_FALSE(c.accept(wrong_sid, platform));
  gpu_enclave_open wrong_epk = io;
  wrong_epk.enclave_pk[0] ^= 1;
  EXPECT_FALSE(c.accept(wrong_epk, platform)) << "a substituted enclave key";
  // Another enclave (MRENCLAVE) or platform key.
  TestPlatform other_platform;
  EXPECT_FALSE(c.accept(io, other_platform));
}

TEST_F(Open, BothSidesDeriveTheSameKeysAndTheTensorKeyIsInSlotZero) {
  Client c = open(0);
  const Session* s = service->sessions().find(c.sid);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->k_c2e, c.k_c2e);
  EXPECT_EQ(s->k_e2c, c.k_e2c);
  EXPECT_EQ(s->k_t, c.k_t);
  EXPECT_NE(c.k_c2e, c.k_e2c);
  EXPECT_TRUE(s->slot_installed(0));
  for (std::uint32_t slot = 1; slot < 8; ++slot) EXPECT_FALSE(s->slot_installed(slot));

  // The device opens a tensor the client sealed under its own K_t in slot 0.
  const auto h = alloc(c, std::array<std::uint64_t, 1>{256});
  ASSERT_EQ(h.size(), 1u);
  const Bytes plain = pattern(64, 1.5f);
  const std::uint64_t in = bus.window_gpa(0);
  put_sealed(in, plain, 0, 1, c.k_t);
  vgpu::CmdbufBuilder b;
  b.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, vgpu::tref(h[0], HIX_VGPU_DT_F32),
              {.gpa = in, .bytes = plain.size()}, {.tensor_id = 1, .key_slot = 0});
  const Reply r = submit(c, b.finish());
  EXPECT_EQ(r.status, Status::ok) << to_string(r.status) << " " << std::hex << r.detail;
}

TEST_F(Open, RefusesWindowsOverlappingTheRingEachOtherOrAnotherSession) {
  static_cast<void>(open(0));
  const auto attempt = [this](gpu_enclave_open io) {
    service->open(io);
    return static_cast<Status>(io.status);
  };
  Client c;
  gpu_enclave_open io = open_request(c, 1);
  gpu_enclave_open bad = io;
  bad.extents[1] = bus.ring_area();
  bad.extents[1].bytes = 4096;
  EXPECT_EQ(attempt(bad), Status::bad_request) << "overlaps the ring area";
  bad = io;
  bad.extents[1] = bus.extent(0, 1);
  EXPECT_EQ(attempt(bad), Status::bad_request) << "overlaps session 0's window";
  bad = io;
  bad.extents[1] = bad.extents[0];
  EXPECT_EQ(attempt(bad), Status::bad_request) << "extents overlap each other";
  bad = io;
  bad.extent_count = 0;
  EXPECT_EQ(attempt(bad), Status::bad_request);
  bad = io;
  bad.extent_count = HIX_SESSION_MAX_EXTENTS + 1;
  EXPECT_EQ(attempt(bad), Status::bad_request);
  bad = io;
  bad.extents[0].bytes = 0;
  EXPECT_EQ(attempt(bad), Status::bad_request);
  bad = io;
  bad.extents[0].gpa = ~std::uint64_t{0} - 10;
  EXPECT_EQ(attempt(bad), Status::bad_request) << "wraps";
  bad = io;
  bad.reserved = 1;
  EXPECT_EQ(attempt(bad), Status::bad_request);
  EXPECT_EQ(service->sessions().live(), 1u);
  EXPECT_EQ(bus.device().live_contexts(), 1u) << "a refused OPEN left a context";
  EXPECT_EQ(attempt(io), Status::ok);
}

TEST_F(Open, RefusesAClientKeyThatIsNotAUsablePoint) {
  Client c;
  c.cpk.fill(0);
  gpu_enclave_open io = open_request(c, 0);
  service->open(io);
  EXPECT_EQ(static_cast<Status>(io.status), Status::bad_request);
  EXPECT_EQ(io.session, 0u);
  EXPECT_EQ(bus.device().live_contexts(), 0u);
}

TEST_F(Open, WithoutAReportNoSessionIsLeftBehind) {
  platform.refuse_reports = true;
  Client c;
  gpu_enclave_open io = open_request(c, 0);
  service->open(io);
  EXPECT_EQ(static_cast<Status>(io.status), Status::internal);
  EXPECT_EQ(io.session, 0u);
  EXPECT_EQ(service->sessions().live(), 0u);
  EXPECT_EQ(bus.device().live_contexts(), 0u);
  EXPECT_EQ(stats().sessions_opened, 0u);
  EXPECT_EQ(stats().sessions_closed, 0u);
}

TEST_F(Open, SessionIdsAreNeverReused) {
  Client a = open(0);
  gpu_enclave_drop d{a.sid, 0};
  service->drop(d);
  ASSERT_EQ(static_cast<Status>(d.status), Status::ok);
  Client b = open(0);
  EXPECT_NE(a.sid, b.sid);
}

}  // namespace
}  // namespace hix::session::test
