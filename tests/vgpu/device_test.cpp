// The device through its register interface (fake bus, no QEMU): register
// access rules, the admin mailbox, contexts, VRAM, key slots, scrub, lock,
// reset and plain mode.
#include <gtest/gtest.h>

#include "fake_bus.hpp"

namespace hix::vgpu::test {
namespace {

TEST(DeviceRegs, IdentityVersionCapsAndStatusAtReset) {
  FakeBus bus;
  EXPECT_EQ(bus.reg(Reg32::id), 0x48495847u);
  EXPECT_EQ(bus.reg(Reg32::version), 0x00010001u);
  EXPECT_EQ(bus.reg(Reg32::caps), 0x00010810u);
  EXPECT_EQ(bus.reg(Reg32::status), gpu::status::ready);
  EXPECT_EQ(bus.reg(Reg32::ring_seq), 1u);
}

TEST(DeviceRegs, EveryRegisterReadsItsSpecResetValue) {
  FakeBus bus;
  for (const auto& desc : gpu::kRegisters) {
    const std::uint32_t want = desc.access == gpu::Access::wo ? 0 : desc.reset;
    EXPECT_EQ(bus.reg(desc.reg), want) << desc.name;
  }
}

TEST(DeviceRegs, BadWidthsUnalignedAndReservedAccessesAreRefusedAndCounted) {
  FakeBus bus;
  auto& d = *bus.dev;
  EXPECT_EQ(d.mmio_read(0x0, 1), 0xFFu);
  EXPECT_EQ(d.mmio_read(0x4, 2), 0xFFFFu);
  EXPECT_EQ(d.mmio_read(0x2, 4), 0xFFFFFFFFu);
  EXPECT_EQ(d.mmio_read(0x0, 8), ~std::uint64_t{0});
  EXPECT_EQ(d.mmio_read(0x100, 4), 0u);  // reserved read: zero, not counted
  d.mmio_write(0x100, 4, 1);             // reserved write
  d.mmio_write(0x0, 4, 1);               // RO write
  d.mmio_write(0xC, 2, 1);               // narrow write
  d.mmio_write(gpu::kBar0Size, 4, 1);    // past the BAR
  EXPECT_EQ(bus.reg(Reg32::badacc), 8u);
  EXPECT_EQ(bus.reg(Reg32::id), gpu::kIdValue);
}

TEST(DeviceRegs, ScratchAndArgsAreReadWriteKeyWindowAndCommandReadZero) {
  FakeBus bus;
  bus.write(Reg32::scratch, 0xA5A5A5A5u);
  bus.write(Reg32::arg2, 77);
  bus.write(Reg32::key3, 0xDEADBEEFu);
  EXPECT_EQ(bus.reg(Reg32::scratch), 0xA5A5A5A5u);
  EXPECT_EQ(bus.reg(Reg32::arg2), 77u);
  EXPECT_EQ(bus.reg(Reg32::key3), 0u);
  EXPECT_EQ(bus.reg(Reg32::cmd), 0u);
  EXPECT_EQ(bus.reg(Reg32::badacc), 0u);
}

TEST(DeviceAdmin, UnknownOpcodeIsRejectedAndCounted) {
  FakeBus bus;
  EXPECT_EQ(bus.admin(0x77).status, Status::bad_opcode);
  EXPECT_EQ(bus.admin(0).status, Status::bad_opcode);
  EXPECT_EQ(bus.reg(Reg32::cmd_rejects), 2u);
}

TEST(DeviceAdmin, ContextsUpToTheLimitThenNoResource) {
  FakeBus bus;
  std::vector<std::uint32_t> ids;
  for (std::size_t i = 0; i < kMaxContexts; ++i) ids.push_back(bus.create_context());
  EXPECT_EQ(bus.admin(HIX_GPU_CMD_CTX_CREATE).status, Status::no_resource);
  EXPECT_EQ(bus.admin(HIX_GPU_CMD_CTX_DESTROY, ids[3]).status, Status::ok);
  const std::uint32_t again = bus.create_context();
  EXPECT_EQ(again & 0xFFFF, ids[3] & 0xFFFF) << "slot reused";
  EXPECT_NE(again, ids[3]) << "with a new generation";
  EXPECT_EQ(bus.admin(HIX_GPU_CMD_CTX_DESTROY, ids[3]).status, Status::bad_context);
  EXPECT_EQ(bus.admin(HIX_GPU_CMD_CTX_DESTROY, 0).status, Status::bad_context);
}

TEST(DeviceAdmin, MemAllocFreeAndVramInfo) {
  FakeBus bus(1 << 20);
  const auto ctx = bus.create_context();
  auto info = bus.admin(HIX_GPU_CMD_VRAM_INFO);
  EXPECT_EQ(info.r1, 1024u);
  EXPECT_EQ(info.r0, 1024u);
  const auto h = bus.alloc(ctx, 1000);  // footprint 1024
  info = bus.admin(HIX_GPU_CMD_VRAM_INFO);
  EXPECT_EQ(info.r0, 1023u);
  EXPECT_EQ(bus.admin(HIX_GPU_CMD_MEM_ALLOC, ctx, 0, 1).status, Status::no_memory);  // 4 GiB
  EXPECT_EQ(bus.admin(HIX_GPU_CMD_MEM_ALLOC, ctx, 0).status, Status::invalid_arg);
  EXPECT_EQ(bus.admin(HIX_GPU_CMD_MEM_ALLOC, 12345, 64).status, Status::bad_context);
  EXPECT_EQ(bus.admin(HIX_GPU_CMD_MEM_FREE, ctx, h).status, Status::ok);
  EXPECT_EQ(bus.admin(HIX_GPU_CMD_MEM_FREE, ctx, h).status, Status::bad_handle);
  EXPECT_EQ(bus.admin(HIX_GPU_CMD_VRAM_INFO).r0, 1024u);
}

TEST(DeviceAdmin, KeySlotRangeIsChecked) {
  FakeBus bus;
  const auto ctx = bus.create_context();
  EXPECT_EQ(bus.admin_with_key(HIX_GPU_CMD_KEY_SLOT_INSTALL, make_key(1), ctx, 8).status,
            Status::bad_key_slot);
  EXPECT_EQ(bus.admin_with_key(HIX_GPU_CMD_KEY_SLOT_INSTALL, make_key(1), ctx + 1, 0).status,
            Status::bad_context);
  EXPECT_EQ(bus.admin_with_key(HIX_GPU_CMD_KEY_SLOT_INSTALL, make_key(1), ctx, 7).status,
            Status::ok);
  EXPECT_EQ(bus.admin(HIX_GPU_CMD_KEY_SLOT_CLEAR, ctx, 7).status, Status::ok);
}

class PlainDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    bus.start_ring();
    ctx = bus.create_context();
  }
  FakeBus bus;
  std::uint32_t ctx = 0;
};

TEST_F(PlainDevice, DmaRoundTripThroughVram) {
  const auto h = bus.alloc(ctx, 64);
  const std::vector<float> v{1.5f, -2.0f, 3.25f, 1e6f};
  bus.upload({.ctx = ctx, .handle = h}, v);
  EXPECT_EQ(bus.download({.ctx = ctx, .handle = h}, 4), v);
  EXPECT_EQ(bus.reg(Reg32::status) & gpu::status::protected_mode, 0u);
}

TEST_F(PlainDevice, FreshBuffersReadZeroEvenAfterAnotherContextUsedTheMemory) {
  const auto h = bus.alloc(ctx, 256);
  bus.upload({.ctx = ctx, .handle = h}, std::vector<float>(64, 42.0f));
  ASSERT_EQ(bus.admin(HIX_GPU_CMD_MEM_FREE, ctx, h).status, Status::ok);
  const auto other = bus.create_context();
  const auto h2 = bus.alloc(other, 256);  // first fit: the same VRAM
  EXPECT_EQ(bus.download({.ctx = other, .handle = h2}, 64), std::vector<float>(64, 0.0f));
}

TEST_F(PlainDevice, AContextCannotNameAnotherContextsBuffer) {
  bus.alloc(ctx, 64);
  const auto secret = bus.alloc(ctx, 64);  // the victim's second buffer
  bus.upload({.ctx = ctx, .handle = secret}, std::vector<float>(16, 7.0f));
  const auto attacker = bus.create_context();
  const auto mine = bus.alloc(attacker, 64);  // the attacker's first and only buffer
  ASSERT_NE(mine, secret);
  CmdbufBuilder b;
  b.copy(tref(mine, HIX_VGPU_DT_F32), tref(secret, HIX_VGPU_DT_F32), 16);
  EXPECT_EQ(bus.submit(attacker, b), Status::bad_handle);
  EXPECT_EQ(bus.download({.ctx = attacker, .handle = mine}, 16), std::vector<float>(16, 0.0f));
  // Handles are per context: the attacker's own handle value names its own
  // buffer, even when the numbers coincide.
  EXPECT_EQ(bus.download({.ctx = ctx, .handle = secret}, 16), std::vector<float>(16, 7.0f));
}

TEST_F(PlainDevice, DestroyedContextsBuffersAreGoneAndZeroed) {
  const auto h = bus.alloc(ctx, 64);
  bus.upload({.ctx = ctx, .handle = h}, std::vector<float>(16, 3.0f));
  ASSERT_EQ(bus.admin(HIX_GPU_CMD_CTX_DESTROY, ctx).status, Status::ok);
  const auto ctx2 = bus.create_context();
  const auto h2 = bus.alloc(ctx2, 64);
  EXPECT_EQ(bus.download({.ctx = ctx2, .handle = h2}, 16), std::vector<float>(16, 0.0f));
}

TEST_F(PlainDevice, DmaIntoTheDenyMapIsRefusedAndCounted) {
  const auto h = bus.alloc(ctx, 64);
  const std::uint64_t epc = bus.guest_alloc(4096);
  bus.dev->set_dma_deny({DenyRange{GuestPhys{epc}, 4096}});
  CmdbufBuilder in;
  in.dma(HIX_VGPU_OP_DMA_IN, tref(h, HIX_VGPU_DT_F32), {.gpa = epc + 16, .bytes = 64});
  EXPECT_EQ(bus.submit(ctx, in), Status::dma_denied);
  CmdbufBuilder out;
  out.dma(HIX_VGPU_OP_DMA_OUT, tref(h, HIX_VGPU_DT_F32),
          {.gpa = epc - 32, .bytes = 64});  // overlaps the start
  EXPECT_EQ(bus.submit(ctx, out), Status::dma_denied);
  CmdbufBuilder outside;
  outside.dma(HIX_VGPU_OP_DMA_OUT, tref(h, HIX_VGPU_DT_F32),
              {.gpa = 0x10, .bytes = 64});  // not guest RAM
  EXPECT_EQ(bus.submit(ctx, outside), Status::dma_denied);
  EXPECT_EQ(bus.reg(Reg32::dma_denied), 3u);
}

TEST_F(PlainDevice, ScrubZeroesVramKeysAndContexts) {
  const auto h = bus.alloc(ctx, 64);
  bus.upload({.ctx = ctx, .handle = h}, std::vector<float>(16, 9.0f));
  bus.install_slot(ctx, 0, make_key(3));
  bus.install_channel_key(make_key(4));
  ASSERT_EQ(bus.admin(HIX_GPU_CMD_SCRUB).status, Status::ok);
  EXPECT_EQ(bus.dev->live_contexts(), 0u);
  EXPECT_EQ(bus.reg(Reg32::status), gpu::status::ready) << "no key, no ring";
  EXPECT_EQ(bus.admin(HIX_GPU_CMD_VRAM_INFO).r0, bus.admin(HIX_GPU_CMD_VRAM_INFO).r1);
  std::vector<std::byte> vram(1 << 20);
  ASSERT_EQ(bus.dev->backend().read_bytes(VramOffset{0}, vram), Status::ok);
  for (const auto b : vram) ASSERT_EQ(b, std::byte{0});
}

TEST_F(PlainDevice, LockChangesScrubAndShowInStatus) {
  bus.alloc(ctx, 64);
  bus.dev->set_lock(true, 0x1234);
  EXPECT_EQ(bus.reg(Reg32::status), gpu::status::ready | gpu::status::locked);
  EXPECT_EQ(bus.dev->live_contexts(), 0u) << "what the OS set up before the lock is gone";
  const auto enclave_ctx = bus.create_context();
  EXPECT_NE(enclave_ctx, 0u);
  bus.dev->set_lock(true, 0x1234);  // no change, no scrub
  EXPECT_EQ(bus.dev->live_contexts(), 1u);
  bus.dev->set_lock(false, 0);
  EXPECT_EQ(bus.dev->live_contexts(), 0u) << "nothing survives the unlock";
  EXPECT_EQ(bus.reg(Reg32::status) & gpu::status::locked, 0u);
}

TEST_F(PlainDevice, LockChangesReturnRegistersToResetValues) {
  bus.write(Reg32::scratch, 0x5ec2e7);
  bus.write(Reg32::arg0, 0x1234);
  bus.dev->set_lock(true, 0x1234);
  EXPECT_EQ(bus.reg(Reg32::scratch), 0u) << "the OS's values do not reach the owner";
  bus.write(Reg32::scratch, 0x5ec2e7);
  bus.write(Reg32::arg0, 0x77);
  bus.dev->set_lock(false, 0);
  for (const auto& desc : gpu::kRegisters) {
    if (desc.reg == Reg32::status) continue;
    const std::uint32_t want = desc.access == gpu::Access::wo ? 0 : desc.reset;
    EXPECT_EQ(bus.reg(desc.reg), want) << desc.name << ": the owner's values do not outlive it";
  }
}

TEST_F(PlainDevice, ResetReturnsRegistersToResetValues) {
  bus.write(Reg32::scratch, 5);
  bus.dev->mmio_read(1, 1);
  bus.alloc(ctx, 64);
  bus.dev->reset();
  for (const auto& desc : gpu::kRegisters) {
    const std::uint32_t want = desc.access == gpu::Access::wo ? 0 : desc.reset;
    EXPECT_EQ(bus.reg(desc.reg), want) << desc.name;
  }
  EXPECT_EQ(bus.dev->live_contexts(), 0u);
}

TEST_F(PlainDevice, KeyWindowIsWipedAfterEveryCommand) {
  // A key written to the window, then a command that does not use it: a
  // later install without rewriting the window installs zeroes, not it.
  const Key k = make_key(9);
  for (std::size_t i = 0; i < 8; ++i) {
    std::uint32_t w = 0;
    std::memcpy(&w, k.data() + 4 * i, 4);
    bus.dev->mmio_write(gpu::offset_of(Reg32::key0).value + 4 * i, 4, w);
  }
  bus.admin(HIX_GPU_CMD_VRAM_INFO);
  ASSERT_EQ(bus.admin(HIX_GPU_CMD_KEY_SLOT_INSTALL, ctx, 0).status, Status::ok);
  // Data sealed with k does not open with the installed (zero) key.
  const auto h = bus.alloc(ctx, 64);
  bus.upload({.ctx = ctx, .handle = h}, std::vector<float>(16, 9.0f));
  std::vector<std::byte> plain(64, std::byte{1});
  std::vector<std::byte> sealed(sealed_size(64));
  ASSERT_EQ(seal_tensor(sealed, plain, SealParams{0, 1}, k), Status::ok);
  const auto gpa = bus.guest_alloc(sealed.size());
  bus.guest_write(gpa, sealed);
  CmdbufBuilder b;
  b.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(h, HIX_VGPU_DT_F32), {.gpa = gpa, .bytes = 64},
              {.tensor_id = 1, .key_slot = 0});
  EXPECT_EQ(bus.submit(ctx, b), Status::auth_failed);
  // A failed open leaves the destination zeroed (spec §7.2).
  EXPECT_EQ(bus.download({.ctx = ctx, .handle = h}, 16), std::vector<float>(16, 0.0f));
}

}  // namespace
}  // namespace hix::vgpu::test
