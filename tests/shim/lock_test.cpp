// Device locks (docs/specs/hix-isa.md §12-§15): EGLOCK, the locked-BAR
// memory checks, the DMA filter, release with scrub, and the configuration
// lock table checked against the spec's §14 table.
#include <gtest/gtest.h>

#include "enclave_builder.hpp"

namespace hix::test {
namespace {

constexpr std::uint32_t kBdf = 0x0100;  // 01:00.0
constexpr std::uint64_t kBarPa = 0xfe600000;
constexpr std::uint64_t kBarSize = 0x4000;
constexpr std::uint64_t kGlrange = kBase + 0x8000;  // free pages of the test enclave

hix_device_desc gpu() {
  hix_device_desc d{};
  d.bdf = hix_bdf(kBdf);
  d.vendor_id = 0x1234;
  d.device_id = 0x4858;
  d.lockable = true;
  d.decoding = true;
  d.bar[0].base = hix_pa(kBarPa);
  d.bar[0].size = kBarSize;
  return d;
}

hix_glock_params params(std::uint64_t glrange0 = kGlrange) {
  hix_glock_params p{};
  p.bdf = kBdf;
  p.glrange[0] = glrange0;
  return p;
}

class Lock : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(build(&f.core, standard_pages()), HIX_OK); }
  hix_status lock(hix_glock_params p = params(), hix_device_desc d = gpu()) {
    return hix_eglock(&f.core, kSecs, &p, &d);
  }
  // An access by enclave (-1: outside enclave mode) through linear to pa.
  hix_verdict check(int enclave, std::uint64_t linear, std::uint64_t pa, hix_access a,
                    bool paging = false) {
    const hix_access_request req{enclave, paging, hix_la(linear), hix_pa(pa), a};
    grant = {0, false, HIX_DENY_KIND_COUNT};
    const hix_verdict v = hix_check_access(&f.core, &req, &grant);
    mask = grant.perm_mask;
    tag = grant.device_tag;
    kind = grant.kind;
    return v;
  }
  CoreFixture f;
  hix_access_grant grant{};
  std::uint32_t mask = 0;
  bool tag = false;
  hix_deny_kind kind = HIX_DENY_KIND_COUNT;
};

TEST_F(Lock, EglockRecordsTheDeviceAndTheReportNamesIt) {
  ASSERT_EQ(lock(), HIX_OK);
  const hix_lock* l = hix_lock_by_bdf(&f.core, hix_bdf(kBdf));
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->owner, 0);
  EXPECT_EQ(hix_la_addr(l->glrange[0]), kGlrange);
  std::array<std::uint8_t, 64> data{};
  hix_report r{};
  hix_ereport(&f.core, 0, data.data(), &r);
  hix_report_device d{};
  std::memcpy(&d, r.device, sizeof d);
  EXPECT_EQ(d.bdf, kBdf);
  EXPECT_EQ(d.vendor_id, 0x1234);
  EXPECT_EQ(d.device_id, 0x4858);
  EXPECT_EQ(d.locked, 1u);
}

TEST_F(Lock, IsWriteOnce) {
  ASSERT_EQ(lock(), HIX_OK);
  EXPECT_EQ(lock(), HIX_ERR_DEVICE_LOCKED);
}

TEST_F(Lock, RefusesWhatTheSpecForbids) {
  hix_device_desc d = gpu();
  d.lockable = false;
  EXPECT_EQ(lock(params(), d), HIX_ERR_NO_DEVICE);
  d = gpu();
  d.decoding = false;
  EXPECT_EQ(lock(params(), d), HIX_ERR_NO_DEVICE);
  EXPECT_EQ(lock(params(kBase + 0x1000)), HIX_ERR_INVALID_PARAM) << "over an EPC page";
  EXPECT_EQ(lock(params(kBase + kSize - 0x1000)), HIX_ERR_INVALID_PARAM) << "runs past ELRANGE";
  EXPECT_EQ(lock(params(0x7f0000000000)), HIX_ERR_INVALID_PARAM) << "outside ELRANGE";
  EXPECT_EQ(lock(params(kGlrange + 8)), HIX_ERR_INVALID_PARAM) << "unaligned";
  EXPECT_EQ(lock(params(0)), HIX_ERR_INVALID_PARAM) << "no BAR mapped";
  hix_glock_params p = params();
  p.glrange[1] = kGlrange + 0x4000;
  EXPECT_EQ(lock(p), HIX_ERR_INVALID_PARAM) << "BAR1 is not assigned";
  p = params();
  p.reserved0 = 1;
  EXPECT_EQ(lock(p), HIX_ERR_INVALID_PARAM);
  p = params();
  EXPECT_EQ(hix_eglock(&f.core, hix_secs(hix_pa_add(kSecsPa, 0x1000)), &p, nullptr),
            HIX_ERR_BAD_SECS);
  EXPECT_EQ(hix_lock_by_bdf(&f.core, hix_bdf(kBdf)), nullptr) << "nothing was locked";
}

TEST_F(Lock, NeedsAnInitialisedLiveEnclave) {
  CoreFixture g;
  ASSERT_EQ(build(&g.core, standard_pages(), false), HIX_OK);
  hix_glock_params p = params();
  hix_device_desc d = gpu();
  EXPECT_EQ(hix_eglock(&g.core, kSecs, &p, &d), HIX_ERR_ENCLAVE_STATE);
  hix_enclave_mark_dead(&f.core, 0);
  EXPECT_EQ(lock(), HIX_ERR_ENCLAVE_STATE);
}

TEST_F(Lock, OnlyTheOwnersGlrangeReachesTheBarTagged) {
  ASSERT_EQ(lock(), HIX_OK);
  EXPECT_EQ(check(0, kGlrange + 0x1004, kBarPa + 0x1000, HIX_ACCESS_WRITE), HIX_ALLOW);
  EXPECT_TRUE(tag);
  EXPECT_EQ(mask, HIX_PAGE_R | HIX_PAGE_W) << "never executable";

  EXPECT_EQ(check(-1, 0xffffc90000000000, kBarPa, HIX_ACCESS_READ), HIX_ABORT_PAGE);
  EXPECT_EQ(kind, HIX_DENY_BAR_READ);
  EXPECT_FALSE(tag);
  EXPECT_EQ(check(-1, kGlrange, kBarPa, HIX_ACCESS_WRITE), HIX_ABORT_PAGE)
      << "the owner's process outside enclave mode";
  EXPECT_EQ(kind, HIX_DENY_BAR_WRITE);
  EXPECT_EQ(check(-1, kGlrange, kBarPa, HIX_ACCESS_FETCH), HIX_FAULT_GP);
  EXPECT_EQ(check(0, 0x7f0000000000, kBarPa, HIX_ACCESS_READ), HIX_ABORT_PAGE)
      << "the owner through another linear address";
  EXPECT_EQ(check(0, kBarPa, kBarPa, HIX_ACCESS_READ, true), HIX_ABORT_PAGE) << "page walk";
}

TEST_F(Lock, AGlrangeRemappedAnywhereElseAbortsTheOwner) {
  ASSERT_EQ(lock(), HIX_OK);
  EXPECT_EQ(check(0, kGlrange, 0x80000, HIX_ACCESS_WRITE), HIX_ENCLAVE_ABORT) << "to RAM";
  EXPECT_EQ(kind, HIX_DENY_ENCLAVE_GLRANGE_MISMATCH);
  EXPECT_EQ(check(0, kGlrange, kBarPa + 0x1000, HIX_ACCESS_READ), HIX_ENCLAVE_ABORT)
      << "to another page of the same BAR";
  EXPECT_EQ(check(0, kGlrange, kBarPa, HIX_ACCESS_FETCH), HIX_ENCLAVE_ABORT);
}

TEST_F(Lock, AnotherEnclaveGetsAbortPages) {
  ASSERT_EQ(build(&f.core, standard_pages(), true, secs_at(0x3000), page_pa(8)), HIX_OK);
  ASSERT_EQ(lock(), HIX_OK);
  EXPECT_EQ(check(1, kGlrange, kBarPa, HIX_ACCESS_READ), HIX_ABORT_PAGE);
}

TEST_F(Lock, DmaFilterRefusesEpcAndLockedBars) {
  ASSERT_EQ(lock(), HIX_OK);
  EXPECT_FALSE(hix_dma_allowed(&f.core, hix_pa_add(page_pa(1), 8), &kind));
  EXPECT_EQ(kind, HIX_DENY_DMA_EPC);
  EXPECT_FALSE(hix_dma_allowed(&f.core, hix_pa(kBarPa + 0x3ffc), &kind));
  EXPECT_EQ(kind, HIX_DENY_DMA_BAR);
  EXPECT_TRUE(hix_dma_allowed(&f.core, hix_pa(0x80000), &kind));
  EXPECT_TRUE(hix_dma_allowed(&f.core, hix_pa(kBarPa + kBarSize), &kind));
}

TEST_F(Lock, DestroyScrubsTheDeviceBeforeReleasingIt) {
  ASSERT_EQ(lock(), HIX_OK);
  ASSERT_EQ(hix_edestroy(&f.core, kSecs), HIX_OK);
  ASSERT_EQ(f.mem.scrubbed.size(), 1u);
  EXPECT_EQ(f.mem.scrubbed[0], kBdf);
  EXPECT_EQ(hix_lock_by_bdf(&f.core, hix_bdf(kBdf)), nullptr);
  EXPECT_EQ(check(-1, 0xffffc90000000000, kBarPa, HIX_ACCESS_READ), HIX_ALLOW);
  ASSERT_EQ(build(&f.core, standard_pages()), HIX_OK);
  EXPECT_EQ(lock(), HIX_OK) << "a new owner can lock the scrubbed device";
}

TEST_F(Lock, ADeadOwnerKeepsTheDeviceLocked) {
  ASSERT_EQ(lock(), HIX_OK);
  hix_enclave_mark_dead(&f.core, 0);
  EXPECT_NE(hix_lock_by_bdf(&f.core, hix_bdf(kBdf)), nullptr);
  EXPECT_EQ(check(-1, 0xffffc90000000000, kBarPa, HIX_ACCESS_READ), HIX_ABORT_PAGE);
}

TEST(ConfigLock, BarOffsetsNameTheirBar) {
  unsigned bar = 9;
  EXPECT_TRUE(hix_cfg_is_bar(0x14, &bar));
  EXPECT_EQ(bar, 1u);
  EXPECT_FALSE(hix_cfg_is_bar(0x30, &bar));
}

}  // namespace
}  // namespace hix::test
