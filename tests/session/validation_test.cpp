// Command-buffer validation through CALL SUBMIT (docs/specs/hix-session.md
// §7, §8.1) on the device model: every reason refuses before anything
// reaches the ring, and is counted. Cross-tenant access is refused twice:
// by the enclave's validator and, with the validator switched off (a
// test-only build option), by the device's own context check.
#include <sodium.h>

#include <cstring>

#include "harness.hpp"
#include "hix/abi/hix_gpu_regs.h"
#include "validation_cases.hpp"

namespace hix::session::test {
namespace {

using gpu::Reg32;
using vgpu::CmdbufBuilder;
using vgpu::tref;

// Two sessions; `c` has two f32 buffers and model key slot 2; `other` has
// three buffers and model key slot 3. Handles are per context (spec hix-gpu
// §4): `other`'s first two handles are the same numbers as `c`'s and name
// `c`'s own buffers there, so the foreign handle is `other`'s third, a number
// `c` never received.
class TwoSessions : public SessionTest {
 public:
  explicit TwoSessions(Mode mode = Mode::protected_mode, bool skip_validation = false)
      : SessionTest(mode, skip_validation) {}

 protected:
  void SetUp() override {
    init();
    c = open(0);
    other = open(1);
    const auto h = alloc(c, std::array<std::uint64_t, 2>{kBufBytes, kBufBytes});
    ASSERT_EQ(h.size(), 2u);
    const auto o = alloc(other, std::array<std::uint64_t, 3>{kBufBytes, kBufBytes, kBufBytes});
    ASSERT_EQ(o.size(), 3u);
    Key32 k{};
    randombytes_buf(k.data(), k.size());
    model_key(c, 2, k);
    randombytes_buf(other_model.data(), other_model.size());
    model_key(other, 3, other_model);
    env.buf_a = h[0];
    env.buf_b = h[1];
    env.foreign = o[2];
    ASSERT_EQ(service->sessions().find(c.sid)->find_buffer(env.foreign), nullptr);
    env.extent0 = bus.window_gpa(0);
    env.extent1 = bus.window_gpa(0) + Bus::kExtentBytes;
    env.outside = bus.window_gpa(1);  // the other session's window
    env.model_slot = 2;
  }
  Client c, other;
  Env env;
  Key32 other_model{};
};

class Validation : public TwoSessions, public ::testing::WithParamInterface<Case> {
 public:
  Validation() : TwoSessions(GetParam().mode) {}
};

TEST_P(Validation, RefusesBeforeTheRingAndCountsTheReason) {
  const Case& k = GetParam();
  const std::uint32_t fence = bus.device().read32(Reg32::fence);
  const std::uint32_t seq = bus.device().read32(Reg32::ring_seq);
  const gpu_enclave_stats before = stats();
  const Reply r = submit(c, k.build(env));
  EXPECT_EQ(r.status, Status::validation) << to_string(r.status);
  EXPECT_EQ(r.detail, validation_detail(k.reason, k.op))
      << to_string(static_cast<Reason>(r.detail >> 16)) << " at op " << (r.detail & 0xFFFF);
  EXPECT_EQ(r.data.size(), sizeof(hix_submit_result));
  EXPECT_EQ(bus.device().read32(Reg32::fence), fence) << "it reached the device";
  EXPECT_EQ(bus.device().read32(Reg32::ring_seq), seq);
  const gpu_enclave_stats after = stats();
  const auto reason = static_cast<std::size_t>(k.reason);
  EXPECT_EQ(after.validation[reason], before.validation[reason] + 1);
  EXPECT_EQ(after.rejected[HIX_SESSION_VALIDATION], before.rejected[HIX_SESSION_VALIDATION] + 1);
  EXPECT_EQ(after.submits, before.submits);
  // The session goes on.
  CmdbufBuilder ok;
  ok.fill(tref(env.buf_a, HIX_VGPU_DT_F32), 4, 0);
  EXPECT_EQ(submit(c, ok.finish()).status, Status::ok);
}

INSTANTIATE_TEST_SUITE_P(EveryReason, Validation, ::testing::ValuesIn(validation_cases()),
                         case_name);

class CrossTenant : public TwoSessions {};

TEST_F(CrossTenant, TheEnclaveRefusesAnotherSessionsHandlesAndKeySlots) {
  CmdbufBuilder b;
  b.copy(tref(env.buf_a, HIX_VGPU_DT_F32), tref(env.foreign, HIX_VGPU_DT_F32), 4);
  Reply r = submit(c, b.finish());
  EXPECT_EQ(r.status, Status::validation);
  EXPECT_EQ(r.detail, validation_detail(Reason::handle, 0));

  // Slot 3 holds the other session's model key in its own context; this
  // session never installed slot 3.
  const std::uint64_t at = bus.window_gpa(0);
  put_sealed(at, pattern(16, 1.0f), 3, 1, other_model);
  CmdbufBuilder d;
  d.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(env.buf_a, HIX_VGPU_DT_F32),
              {.gpa = at, .bytes = 64}, {.tensor_id = 1, .key_slot = 3});
  r = submit(c, d.finish());
  EXPECT_EQ(r.status, Status::validation);
  EXPECT_EQ(r.detail, validation_detail(Reason::key_slot, 0));
  // A DMA into the other session's window.
  CmdbufBuilder w;
  w.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, tref(env.buf_a, HIX_VGPU_DT_F32),
              {.gpa = bus.window_gpa(1), .bytes = 64},
              {.tensor_id = HIX_VGPU_TENSOR_ID_DEVICE | 1, .key_slot = 0});
  r = submit(c, w.finish());
  EXPECT_EQ(r.status, Status::validation);
  EXPECT_EQ(r.detail, validation_detail(Reason::dma_range, 0));
}

// The same attempts with the enclave's validator off: the device's own
// checks in the entry's context refuse them.
class CrossTenantDeviceOnly : public TwoSessions {
 public:
  CrossTenantDeviceOnly() : TwoSessions(Mode::protected_mode, /*skip_validation=*/true) {}
};

TEST_F(CrossTenantDeviceOnly, TheDeviceRefusesAnotherContextsHandleAndKeySlot) {
  // Put a secret in the other session's buffer first.
  const Bytes secret = pattern(16, 99.0f);
  const std::uint64_t at = bus.window_gpa(1);
  put_sealed(at, secret, 0, 1, other.k_t);
  CmdbufBuilder load;
  load.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(env.foreign, HIX_VGPU_DT_F32),
                 {.gpa = at, .bytes = 64}, {.tensor_id = 1, .key_slot = 0});
  ASSERT_EQ(submit(other, load.finish()).status, Status::ok);

  // Session c copies from it and seals the copy out under its own key.
  CmdbufBuilder b;
  b.copy(tref(env.buf_a, HIX_VGPU_DT_F32), tref(env.foreign, HIX_VGPU_DT_F32), 16);
  b.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, tref(env.buf_a, HIX_VGPU_DT_F32),
              {.gpa = env.extent0, .bytes = 64},
              {.tensor_id = HIX_VGPU_TENSOR_ID_DEVICE | 1, .key_slot = 0});
  Reply r = submit(c, b.finish());
  EXPECT_EQ(r.status, Status::device);
  EXPECT_EQ(r.detail, device_detail(HIX_VGPU_BAD_HANDLE, 0));
  EXPECT_EQ(stats().validation[HIX_VALID_HANDLE], 0u) << "the validator was off";
  Bytes leaked(64);
  EXPECT_FALSE(get_sealed(env.extent0, leaked, HIX_VGPU_TENSOR_ID_DEVICE | 1, c.k_t))
      << "nothing was sealed out";

  // The other session's model key slot is empty in this context.
  const std::uint64_t w = env.extent0 + 4096;
  put_sealed(w, pattern(16, 1.0f), 3, 1, other_model);
  CmdbufBuilder d;
  d.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(env.buf_a, HIX_VGPU_DT_F32), {.gpa = w, .bytes = 64},
              {.tensor_id = 1, .key_slot = 3});
  r = submit(c, d.finish());
  EXPECT_EQ(r.status, Status::device);
  EXPECT_EQ(r.detail, device_detail(HIX_VGPU_BAD_KEY_SLOT, 0));

  // Plain DMA in protected mode: the device refuses it too.
  CmdbufBuilder p;
  p.dma(HIX_VGPU_OP_DMA_OUT, tref(env.buf_a, HIX_VGPU_DT_F32), {.gpa = env.extent0, .bytes = 64});
  r = submit(c, p.finish());
  EXPECT_EQ(r.status, Status::device);
  EXPECT_EQ(r.detail, device_detail(HIX_VGPU_DENIED_PROTECTED, 0));
}

}  // namespace
}  // namespace hix::session::test
