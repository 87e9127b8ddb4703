// Counters belong to the key, not to the install (spec §4.1): installing a
// key again never lets an old ring entry verify again and never lets the
// device seal two tensors under one (key, nonce). The attacker is whoever
// drives the admin mailbox (a buggy GPU enclave; in plain mode, anyone).
//
// Built twice: against the device library (the attacks fail), and against
// hix_vgpu_testing (HIX_VGPU_TESTING), whose DeviceConfig can restart the
// counters on every install as the device did before the ledger: there the
// same attacks succeed (the controls).
#include <gtest/gtest.h>

#include <set>

#include "fake_bus.hpp"
#include "key_ledger.hpp"
#include "sealed_chunk.hpp"

namespace hix::vgpu::test {
namespace {

TEST(KeyLedger, OneEntryPerKeyUntilCleared) {
  KeyLedger ledger;
  KeyLedger::Counters* a = ledger.enter(make_key(1));
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->next_seq, 1u);
  EXPECT_EQ(a->last_out_id, 0u);
  a->next_seq = 9;
  a->last_out_id = 7;
  KeyLedger::Counters* b = ledger.enter(make_key(2));
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  EXPECT_EQ(ledger.enter(make_key(1)), a) << "the same key finds its counters";
  EXPECT_EQ(ledger.size(), 2u);
  ledger.clear();
  EXPECT_EQ(ledger.size(), 0u);
  KeyLedger::Counters* c = ledger.enter(make_key(1));
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->next_seq, 1u) << "a scrub forgets every key";
  EXPECT_EQ(c->last_out_id, 0u);
}

TEST(KeyLedger, RefusesNewKeysWhenFullButKnowsOldOnes) {
  KeyLedger ledger;
  Key k{};
  for (std::size_t i = 0; i < KeyLedger::kCapacity; ++i) {
    std::memcpy(k.data(), &i, sizeof i);
    ASSERT_NE(ledger.enter(k), nullptr) << i;
  }
  std::size_t fresh = KeyLedger::kCapacity;
  std::memcpy(k.data(), &fresh, sizeof fresh);
  EXPECT_EQ(ledger.enter(k), nullptr);
  std::size_t old = 5;
  std::memcpy(k.data(), &old, sizeof old);
  EXPECT_NE(ledger.enter(k), nullptr);
}

std::vector<std::byte> pattern(std::size_t n, std::uint8_t seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i * 37 + seed) & 0xFF);
  return v;
}

DeviceConfig device_config(bool restart_counters) {
  DeviceConfig cfg;
#ifdef HIX_VGPU_TESTING
  cfg.restart_counters_on_install = restart_counters;
#else
  EXPECT_FALSE(restart_counters) << "the control needs the testing build";
#endif
  return cfg;
}

// The attack on DMA_OUT_ENCRYPT: seal a tensor under a key, install the
// same key again (same slot after a clear, another slot, another context),
// seal a different tensor with the same device tensor id.
class OutputCounter : public ::testing::TestWithParam<bool> {
 protected:
  static constexpr std::uint64_t kBytes = 4096;
  static constexpr std::uint64_t kId = kDeviceTensorBit | 1;

  void SetUp() override {
    bus.start_ring();
    ctx = bus.create_context();
    buf = bus.alloc(ctx, kBytes);
    bus.install_slot(ctx, 0, key);
  }
  // Fills buffer `at` with `plain` (plain DMA: no channel key) and seals it
  // under slot `slot` of its context with id kId; returns the status and the
  // ciphertext.
  Status seal(CtxBuffer at, std::uint32_t slot, const std::vector<std::byte>& plain,
              std::vector<std::byte>& sealed) {
    const std::uint32_t c = at.ctx;
    const std::uint32_t b = at.handle;
    const auto in = bus.guest_alloc(kBytes);
    bus.guest_write(in, plain);
    const auto out = bus.guest_alloc(sealed_size(kBytes));
    CmdbufBuilder cb;
    cb.dma(HIX_VGPU_OP_DMA_IN, tref(b, HIX_VGPU_DT_I32), {.gpa = in, .bytes = kBytes});
    cb.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, tref(b, HIX_VGPU_DT_I32),
                 {.gpa = out, .bytes = kBytes}, {.tensor_id = kId, .key_slot = slot});
    const Status s = bus.submit(c, cb);
    const auto g = bus.guest(out, sealed_size(kBytes));
    sealed.assign(g.begin(), g.end());
    return s;
  }
  // Two ciphertexts under one (key, nonce): their XOR is the XOR of the
  // plaintexts (the keystream cancels), which is what nonce reuse leaks.
  static bool keystream_reused(const std::vector<std::byte>& c1, const std::vector<std::byte>& c2,
                               const std::vector<std::byte>& p1, const std::vector<std::byte>& p2) {
    constexpr std::size_t kHeader = 32;
    for (std::size_t i = 0; i < p1.size(); ++i) {
      if ((c1[kHeader + i] ^ c2[kHeader + i]) != (p1[i] ^ p2[i])) return false;
    }
    return true;
  }
  void expect_verdict(Status second, const std::vector<std::byte>& c2) {
    if (GetParam()) {
      ASSERT_EQ(second, Status::ok) << "control: counters restart, the seal runs";
      EXPECT_TRUE(keystream_reused(first_sealed, c2, p1, p2))
          << "control: two tensors under one (key, nonce)";
    } else {
      EXPECT_EQ(second, Status::replay) << "the key's counter survives the re-install";
    }
  }

  FakeBus bus{1 << 20, device_config(GetParam())};
  Key key = make_key(9);
  std::uint32_t ctx = 0, buf = 0;
  std::vector<std::byte> p1 = pattern(kBytes, 1), p2 = pattern(kBytes, 2), first_sealed;
};

TEST_P(OutputCounter, ReinstallInTheSameSlot) {
  ASSERT_EQ(seal({.ctx = ctx, .handle = buf}, 0, p1, first_sealed), Status::ok);
  ASSERT_EQ(bus.admin(HIX_GPU_CMD_KEY_SLOT_CLEAR, ctx, 0).status, Status::ok);
  bus.install_slot(ctx, 0, key);
  std::vector<std::byte> c2;
  expect_verdict(seal({.ctx = ctx, .handle = buf}, 0, p2, c2), c2);
}

TEST_P(OutputCounter, SameKeyInAnotherSlot) {
  ASSERT_EQ(seal({.ctx = ctx, .handle = buf}, 0, p1, first_sealed), Status::ok);
  bus.install_slot(ctx, 5, key);
  std::vector<std::byte> c2;
  expect_verdict(seal({.ctx = ctx, .handle = buf}, 5, p2, c2), c2);
}

TEST_P(OutputCounter, SameKeyInANewContextAfterDestroy) {
  ASSERT_EQ(seal({.ctx = ctx, .handle = buf}, 0, p1, first_sealed), Status::ok);
  ASSERT_EQ(bus.admin(HIX_GPU_CMD_CTX_DESTROY, ctx).status, Status::ok);
  const std::uint32_t c = bus.create_context();
  const std::uint32_t b = bus.alloc(c, kBytes);
  bus.install_slot(c, 0, key);
  std::vector<std::byte> c2;
  expect_verdict(seal({.ctx = c, .handle = b}, 0, p2, c2), c2);
}

TEST_P(OutputCounter, ReinstallContinuesAboveTheOldCounter) {
  ASSERT_EQ(seal({.ctx = ctx, .handle = buf}, 0, p1, first_sealed), Status::ok);
  bus.install_slot(ctx, 0, key);
  const auto out = bus.guest_alloc(sealed_size(kBytes));
  CmdbufBuilder next;
  next.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, tref(buf, HIX_VGPU_DT_I32),
                 {.gpa = out, .bytes = kBytes}, {.tensor_id = kId + 1, .key_slot = 0});
  EXPECT_EQ(bus.submit(ctx, next), Status::ok) << "a higher id works under the re-installed key";
}

TEST_P(OutputCounter, AScrubForgetsTheLedger) {
  ASSERT_EQ(seal({.ctx = ctx, .handle = buf}, 0, p1, first_sealed), Status::ok);
  ASSERT_EQ(bus.admin(HIX_GPU_CMD_SCRUB).status, Status::ok);
  bus.start_ring();
  const std::uint32_t c = bus.create_context();
  const std::uint32_t b = bus.alloc(c, kBytes);
  bus.install_slot(c, 0, key);
  std::vector<std::byte> c2;
  EXPECT_EQ(seal({.ctx = c, .handle = b}, 0, p2, c2), Status::ok)
      << "spec §4.1: the guarantee is between scrubs";
}

// The attack on the ring: record an authentic entry, install the channel
// key again, replay the entry.
class RingSequence : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    bus.start_ring(8);
    ctx = bus.create_context();
    buf = bus.alloc(ctx, 64);
    bus.install_channel_key(channel);
  }
  std::vector<std::byte> fill(float v) {
    CmdbufBuilder b;
    std::uint32_t bits = 0;
    std::memcpy(&bits, &v, 4);
    b.fill(tref(buf, HIX_VGPU_DT_F32), 16, bits);
    return b.finish();
  }
  float value() {
    float f = 0;
    std::vector<std::byte> all(bus.dev->backend().vram_size());
    EXPECT_EQ(bus.dev->backend().read_bytes(VramOffset{0}, all), Status::ok);
    std::memcpy(&f, all.data(), 4);
    return f;
  }
  void run(const hix_vgpu_ring_entry& e) {
    bus.write_entry(e);
    bus.doorbell();
  }
  void replay_after(const std::function<void()>& reinstall) {
    const auto cmd = fill(1.0f);
    const auto gpa = bus.guest_alloc(cmd.size());
    const hix_vgpu_ring_entry first = bus.make_entry(ctx, cmd, gpa, 1, 1);
    std::vector<std::byte> first_body(bus.guest(gpa, cmd.size()).begin(),
                                      bus.guest(gpa, cmd.size()).end());
    run(first);
    run(bus.make_entry(ctx, fill(2.0f), bus.guest_alloc(cmd.size()), 2, 2));
    ASSERT_EQ(value(), 2.0f);
    reinstall();
    bus.guest_write(gpa, first_body);  // the recorded ciphertext, as it was
    const std::uint32_t replayed = bus.reg(Reg32::ring_replayed);
    run(first);
    if (GetParam()) {
      EXPECT_EQ(value(), 1.0f) << "control: the sequence restarted, the old entry ran again";
    } else {
      EXPECT_EQ(value(), 2.0f) << "the replay did not run";
      EXPECT_EQ(bus.reg(Reg32::ring_replayed), replayed + 1);
      EXPECT_EQ(bus.reg(Reg32::ring_seq), 3u) << "the key's sequence continued";
    }
  }
  FakeBus bus{1 << 20, device_config(GetParam())};
  Key channel = make_key(11);
  std::uint32_t ctx = 0, buf = 0;
};

TEST_P(RingSequence, ReinstallOfTheSameChannelKey) {
  replay_after([&] { bus.install_channel_key(channel); });
}

TEST_P(RingSequence, ClearThenReinstall) {
  replay_after([&] {
    ASSERT_EQ(bus.admin(HIX_GPU_CMD_CHANNEL_KEY_CLEAR).status, Status::ok);
    bus.install_channel_key(channel);
  });
}

TEST_P(RingSequence, AnotherKeyInBetween) {
  replay_after([&] {
    bus.install_channel_key(make_key(12));
    bus.install_channel_key(channel);
  });
}

std::string verdict_name(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "ControlCountersRestart" : "Ledger";
}

#ifdef HIX_VGPU_TESTING
INSTANTIATE_TEST_SUITE_P(Attack, OutputCounter, ::testing::Bool(), verdict_name);
INSTANTIATE_TEST_SUITE_P(Attack, RingSequence, ::testing::Bool(), verdict_name);
#else
INSTANTIATE_TEST_SUITE_P(Attack, OutputCounter, ::testing::Values(false), verdict_name);
INSTANTIATE_TEST_SUITE_P(Attack, RingSequence, ::testing::Values(false), verdict_name);
#endif

TEST(KeyLedgerOnDevice, AFullLedgerRefusesNewKeysWithNoResource) {
  FakeBus bus{1 << 20};
  const std::uint32_t ctx = bus.create_context();
  Key k{};
  for (std::size_t i = 0; i < KeyLedger::kCapacity; ++i) {
    std::memcpy(k.data(), &i, sizeof i);
    ASSERT_EQ(bus.admin_with_key(HIX_GPU_CMD_KEY_SLOT_INSTALL, k, ctx, 1).status, Status::ok) << i;
  }
  std::size_t fresh = KeyLedger::kCapacity;
  std::memcpy(k.data(), &fresh, sizeof fresh);
  const std::uint32_t rejects = bus.reg(Reg32::cmd_rejects);
  EXPECT_EQ(bus.admin_with_key(HIX_GPU_CMD_KEY_SLOT_INSTALL, k, ctx, 2).status,
            Status::no_resource);
  EXPECT_EQ(bus.admin_with_key(HIX_GPU_CMD_CHANNEL_KEY_INSTALL, k).status, Status::no_resource);
  EXPECT_EQ(bus.reg(Reg32::cmd_rejects), rejects + 2);
  EXPECT_EQ(bus.reg(Reg32::status) & gpu::status::protected_mode, 0u) << "nothing installed";
  ASSERT_EQ(bus.admin(HIX_GPU_CMD_SCRUB).status, Status::ok);
  const std::uint32_t c2 = bus.create_context();
  EXPECT_EQ(bus.admin_with_key(HIX_GPU_CMD_KEY_SLOT_INSTALL, k, c2, 2).status, Status::ok)
      << "a scrub empties the ledger";
}

}  // namespace
}  // namespace hix::vgpu::test
