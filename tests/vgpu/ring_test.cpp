// The authenticated ring (spec §5): forged, replayed and reordered entries
// are rejected and counted, and the ring keeps working.
#include <gtest/gtest.h>

#include "fake_bus.hpp"

namespace hix::vgpu::test {
namespace {

class ProtectedRing : public ::testing::Test {
 protected:
  void SetUp() override {
    bus.start_ring(8);
    ctx = bus.create_context();
    buf = bus.alloc(ctx, 64);
    bus.install_channel_key(make_key(1));
  }
  // A command buffer that fills buf with `value`.
  std::vector<std::byte> fill(float value) {
    CmdbufBuilder b;
    std::uint32_t bits = 0;
    std::memcpy(&bits, &value, 4);
    b.fill(tref(buf, HIX_VGPU_DT_F32), 16, bits);
    return b.finish();
  }
  // Reads buf back with the device's own VRAM view (plain DMA is refused in
  // protected mode, by design).
  float value() {
    const auto view = [&] {
      float f = 0;
      std::vector<std::byte> all(bus.dev->backend().vram_size());
      EXPECT_EQ(bus.dev->backend().read_bytes(VramOffset{0}, all), Status::ok);
      std::memcpy(&f, all.data(), 4);  // buf is the only buffer: VRAM offset 0
      return f;
    };
    return view();
  }
  hix_vgpu_ring_entry entry(const std::vector<std::byte>& cmd, std::uint64_t seq,
                            std::uint32_t fence) {
    return bus.make_entry(ctx, cmd, bus.guest_alloc(cmd.size()), fence, seq);
  }
  FakeBus bus{1 << 20};
  std::uint32_t ctx = 0, buf = 0;
};

TEST_F(ProtectedRing, AuthenticEntryRunsAndAdvancesTheSequence) {
  EXPECT_NE(bus.reg(Reg32::status) & gpu::status::protected_mode, 0u);
  bus.write_entry(entry(fill(2.0f), 1, 10));
  bus.doorbell();
  EXPECT_EQ(bus.reg(Reg32::fence), 10u);
  EXPECT_EQ(bus.reg(Reg32::ring_head), 1u);
  EXPECT_EQ(bus.reg(Reg32::ring_seq), 2u);
  EXPECT_EQ(value(), 2.0f);
}

TEST_F(ProtectedRing, CommandBuffersAreCiphertextInGuestMemory) {
  const auto cmd = fill(2.0f);
  const auto gpa = bus.guest_alloc(cmd.size());
  bus.write_entry(bus.make_entry(ctx, cmd, gpa, 1, 1));
  const auto in_guest = bus.guest(gpa, cmd.size());
  EXPECT_NE(std::memcmp(in_guest.data(), cmd.data(), cmd.size()), 0);
  bus.doorbell();
  EXPECT_EQ(value(), 2.0f);
}

TEST_F(ProtectedRing, ForgedEntriesAreRejectedCountedAndTheRingKeepsWorking) {
  auto e = entry(fill(5.0f), 1, 1);
  e.tag[0] ^= 1;  // tampered tag
  bus.write_entry(e);
  auto e2 = entry(fill(6.0f), 1, 2);
  e2.fence = 99;  // tampered authenticated field
  bus.write_entry(e2);
  const auto cmd = fill(7.0f);
  const auto gpa = bus.guest_alloc(cmd.size());
  auto e3 = bus.make_entry(ctx, cmd, gpa, 3, 1);
  bus.guest(gpa, cmd.size())[20] ^= std::byte{0x40};  // tampered command buffer
  bus.write_entry(e3);
  bus.channel_key = make_key(2);  // sealed with the wrong key
  bus.write_entry(entry(fill(8.0f), 1, 4));
  bus.channel_key = make_key(1);
  bus.write_entry(entry(fill(3.0f), 1, 5));  // authentic
  bus.doorbell();
  EXPECT_EQ(bus.reg(Reg32::ring_forged), 4u);
  EXPECT_EQ(bus.reg(Reg32::ring_head), 5u);
  EXPECT_EQ(bus.reg(Reg32::fence), 5u);
  EXPECT_EQ(value(), 3.0f);
  EXPECT_EQ(bus.reg(Reg32::exec_errors), 0u);
}

TEST_F(ProtectedRing, ReplayedEntriesAreRejectedAndCounted) {
  const auto first = entry(fill(1.0f), 1, 1);
  bus.write_entry(first);
  bus.doorbell();
  bus.write_entry(entry(fill(4.0f), 2, 2));
  bus.doorbell();
  EXPECT_EQ(value(), 4.0f);
  bus.write_entry(first);  // the OS replays an old, authentic entry
  bus.doorbell();
  EXPECT_EQ(bus.reg(Reg32::ring_replayed), 1u);
  EXPECT_EQ(value(), 4.0f) << "the replay did not run";
  EXPECT_EQ(bus.reg(Reg32::fence), 2u);
  bus.write_entry(entry(fill(9.0f), 3, 3));
  bus.doorbell();
  EXPECT_EQ(value(), 9.0f);
}

TEST_F(ProtectedRing, ReorderedEntriesAreRejectedAndCounted) {
  const auto e1 = entry(fill(1.0f), 1, 1);
  const auto e2 = entry(fill(2.0f), 2, 2);
  bus.write_entry(e2);  // the OS swaps two entries
  bus.write_entry(e1);
  bus.doorbell();
  EXPECT_EQ(bus.reg(Reg32::ring_reordered), 1u);
  EXPECT_EQ(value(), 1.0f) << "seq 1 ran; seq 2 was rejected when it came first";
  EXPECT_EQ(bus.reg(Reg32::ring_seq), 2u);
  bus.write_entry(e2);  // resubmitted in order, it is accepted
  bus.doorbell();
  EXPECT_EQ(value(), 2.0f);
  EXPECT_EQ(bus.reg(Reg32::ring_seq), 3u);
}

TEST_F(ProtectedRing, SequenceIsBoundToTheChannelKeyNotTheRing) {
  bus.write_entry(entry(fill(1.0f), 1, 1));
  bus.doorbell();
  bus.start_ring(8);  // restarting the ring does not reset the sequence
  bus.write_entry(entry(fill(2.0f), 1, 2));
  bus.doorbell();
  EXPECT_EQ(bus.reg(Reg32::ring_replayed), 1u);
  EXPECT_EQ(value(), 1.0f);
}

TEST_F(ProtectedRing, PlainDmaIsDeniedInProtectedMode) {
  CmdbufBuilder b;
  b.dma(HIX_VGPU_OP_DMA_OUT, tref(buf, HIX_VGPU_DT_F32), {.gpa = bus.guest_alloc(64), .bytes = 64});
  bus.next_seq = 1;
  EXPECT_EQ(bus.submit(ctx, b), Status::denied_protected);
}

TEST_F(ProtectedRing, MalformedEntriesAndDoorbellsAreCounted) {
  auto bad_ctx = entry(fill(1.0f), 1, 1);
  bad_ctx.ctx = 0;
  bus.write_entry(bad_ctx);
  auto bad_len = entry(fill(1.0f), 1, 1);
  bad_len.cmd_len = 12;
  bus.write_entry(bad_len);
  auto bad_res = entry(fill(1.0f), 1, 1);
  bad_res.reserved[3] = 1;
  bus.write_entry(bad_res);
  auto bad_gpa = entry(fill(1.0f), 1, 1);
  bad_gpa.cmd_gpa = 0;
  bus.write_entry(bad_gpa);
  bus.doorbell();
  EXPECT_EQ(bus.reg(Reg32::ring_malformed), 4u);
  bus.write(Reg32::doorbell, bus.producer + 100);  // more than the ring holds
  bus.write(Reg32::doorbell, bus.producer - 1);    // backwards
  EXPECT_EQ(bus.reg(Reg32::ring_malformed), 6u);
  bus.write_entry(entry(fill(5.0f), 1, 7));
  bus.doorbell();
  EXPECT_EQ(value(), 5.0f);
}

TEST(PlainRing, EntriesAreNotAuthenticatedAndReplaysRun) {
  // The control for the attack tests: without a channel key a replayed
  // entry runs again.
  FakeBus bus(1 << 20);
  bus.start_ring(8);
  const auto ctx = bus.create_context();
  const auto buf = bus.alloc(ctx, 64);
  CmdbufBuilder b;
  b.fill(tref(buf, HIX_VGPU_DT_F32), 1, 0x3F800000u);
  const auto cmd = b.finish();
  const auto e = bus.make_entry(ctx, cmd, bus.guest_alloc(cmd.size()), 1, 12345);
  bus.write_entry(e);
  bus.write_entry(e);
  bus.doorbell();
  EXPECT_EQ(bus.reg(Reg32::ring_head), 2u);
  EXPECT_EQ(bus.reg(Reg32::ring_replayed), 0u);
  EXPECT_EQ(bus.reg(Reg32::ring_forged), 0u);
}

TEST(PlainRing, DoorbellWithoutRingAndBadRingSetupAreRefused) {
  FakeBus bus;
  bus.write(Reg32::doorbell, 1);
  EXPECT_EQ(bus.reg(Reg32::ring_malformed), 1u);
  bus.write(Reg32::ring_base_lo, static_cast<std::uint32_t>(FakeBus::kRingGpa + 8));
  bus.write(Reg32::ring_size, 8);
  EXPECT_EQ(bus.admin(HIX_GPU_CMD_RING_START).status, Status::invalid_arg);  // unaligned
  bus.write(Reg32::ring_base_lo, static_cast<std::uint32_t>(FakeBus::kRingGpa));
  bus.write(Reg32::ring_size, 6);
  EXPECT_EQ(bus.admin(HIX_GPU_CMD_RING_START).status, Status::invalid_arg);  // not 2^n
  bus.write(Reg32::ring_base_lo, 0x1000);
  bus.write(Reg32::ring_size, 8);
  EXPECT_EQ(bus.admin(HIX_GPU_CMD_RING_START).status, Status::invalid_arg);  // not RAM
  bus.dev->set_dma_deny({DenyRange{GuestPhys{FakeBus::kRingGpa}, 4096}});
  bus.write(Reg32::ring_base_lo, static_cast<std::uint32_t>(FakeBus::kRingGpa));
  EXPECT_EQ(bus.admin(HIX_GPU_CMD_RING_START).status, Status::dma_denied);  // EPC
  EXPECT_EQ(bus.reg(Reg32::status) & gpu::status::ring, 0u);
}

TEST(DeferredRing, DoorbellCallsTheHandlerAndAWorkerRunsTheEntries) {
  DeviceConfig cfg;
  cfg.inline_execution = false;
  FakeBus bus(1 << 20, cfg);
  int rung = 0;
  bus.dev->set_doorbell_handler([&rung] { ++rung; });
  bus.start_ring(8);
  const auto ctx = bus.create_context();
  const auto buf = bus.alloc(ctx, 64);
  CmdbufBuilder b;
  b.fill(tref(buf, HIX_VGPU_DT_F32), 1, 0x3F800000u);
  const auto cmd = b.finish();
  bus.write_entry(bus.make_entry(ctx, cmd, bus.guest_alloc(cmd.size()), 42, 1));
  bus.doorbell();
  EXPECT_EQ(rung, 1);
  EXPECT_NE(bus.reg(Reg32::status) & gpu::status::busy, 0u);
  EXPECT_EQ(bus.dev->run_pending(), 1u);
  EXPECT_EQ(bus.reg(Reg32::fence), 42u);
  EXPECT_EQ(bus.reg(Reg32::status) & gpu::status::busy, 0u);
}

}  // namespace
}  // namespace hix::vgpu::test
