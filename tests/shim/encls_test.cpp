// ENCLS leaf semantics (docs/specs/hix-isa.md §2.1) and EENTER's checks.
#include <gtest/gtest.h>

#include <algorithm>

#include "enclave_builder.hpp"

namespace hix::test {
namespace {

bool all_zero(const std::uint8_t* p, std::size_t n) {
  return std::all_of(p, p + n, [](std::uint8_t b) { return b == 0; });
}

class Encls : public ::testing::Test {
 protected:
  CoreFixture f;
  hix_core* core = &f.core;
};

TEST_F(Encls, BuildsAnEnclaveWhoseMeasurementFollowsTheSpec) {
  const auto pages = standard_pages();
  ASSERT_EQ(build(core, pages), HIX_OK);
  const hix_enclave& e = core->enclaves[0];
  EXPECT_EQ(e.state, HIX_ENCLAVE_INIT);
  EXPECT_EQ(e.pages, 3u);
  EXPECT_EQ(e.tcs_count, 1u);
  const auto expected = expected_mrenclave(pages);
  EXPECT_EQ(0, std::memcmp(e.mrenclave, expected.data(), 32));
  EXPECT_EQ(hix_epcm_count(core), 4u) << "three pages and the SECS";
}

TEST_F(Encls, AnyChangedByteOrFlagChangesTheMeasurement) {
  auto pages = standard_pages();
  ASSERT_EQ(build(core, pages), HIX_OK);
  std::array<std::uint8_t, 32> first{};
  std::memcpy(first.data(), core->enclaves[0].mrenclave, 32);

  CoreFixture g;
  pages[0].bytes[123] ^= 1;
  ASSERT_EQ(build(&g.core, pages), HIX_OK);
  EXPECT_NE(0, std::memcmp(first.data(), g.core.enclaves[0].mrenclave, 32));

  CoreFixture h;
  pages = standard_pages();
  pages[1].flags |= HIX_PAGE_X;
  ASSERT_EQ(build(&h.core, pages), HIX_OK);
  EXPECT_NE(0, std::memcmp(first.data(), h.core.enclaves[0].mrenclave, 32));
}

TEST_F(Encls, EaddCopiesTheSourceIntoTheTargetPage) {
  ASSERT_EQ(build(core, standard_pages()), HIX_OK);
  EXPECT_EQ(f.mem.at(page_pa(0))[0], 0x90);
  EXPECT_EQ(f.mem.at(page_pa(1))[4095], 0x11);
}

TEST_F(Encls, EcreateRejectsMalformedParameters) {
  auto try_create = [&](hix_secs_params p, hix_secs_t secs = kSecs) {
    return hix_ecreate(core, &p, secs);
  };
  hix_secs_params ok{};
  ok.base = kBase;
  ok.size = kSize;
  hix_secs_params p = ok;
  p.size = 0x3000;
  EXPECT_EQ(try_create(p), HIX_ERR_INVALID_PARAM) << "size not a power of two";
  p = ok;
  p.base = kBase + 0x1000;
  EXPECT_EQ(try_create(p), HIX_ERR_INVALID_PARAM) << "base not size-aligned";
  p = ok;
  p.base = 0x0000800000000000ull;
  EXPECT_EQ(try_create(p), HIX_ERR_INVALID_PARAM) << "upper half";
  p = ok;
  p.attributes = HIX_ATTR_UNENFORCED;
  EXPECT_EQ(try_create(p), HIX_ERR_INVALID_PARAM) << "software may not claim attributes";
  p = ok;
  p.reserved[4] = 1;
  EXPECT_EQ(try_create(p), HIX_ERR_INVALID_PARAM);
  p = ok;
  p.size = HIX_MAX_ELRANGE * 2;
  p.base = 0;
  EXPECT_EQ(try_create(p), HIX_ERR_INVALID_PARAM) << "ELRANGE too large";
  EXPECT_EQ(try_create(ok, hix_secs(hix_pa_add(kSecsPa, 8))), HIX_ERR_INVALID_PARAM)
      << "SECS misaligned";
  EXPECT_EQ(try_create(ok, secs_at(0x200000)), HIX_ERR_NOT_RAM) << "beyond fake RAM";
  EXPECT_EQ(hix_epcm_count(core), 0u);
  ASSERT_EQ(try_create(ok), HIX_OK);
  EXPECT_EQ(try_create(ok), HIX_ERR_PAGE_IN_USE) << "SECS page is EPC now";
}

TEST_F(Encls, EaddRejectsWhatTheSpecForbids) {
  ASSERT_EQ(build(core, {}, false), HIX_OK);
  const auto src = code_page(0, 1).bytes;
  hix_pageinfo pi{};
  pi.linaddr = kBase;
  pi.flags = HIX_PAGE_R | HIX_PAGE_X;
  EXPECT_EQ(
      hix_eadd(core, &pi, src.data(), page_pa(0), hix_secs(hix_pa_add(kSecsPa, HIX_PAGE_SIZE))),
      HIX_ERR_BAD_SECS);
  hix_pageinfo bad = pi;
  bad.linaddr = kBase + kSize;
  EXPECT_EQ(hix_eadd(core, &bad, src.data(), page_pa(0), kSecs), HIX_ERR_INVALID_PARAM)
      << "outside ELRANGE";
  bad = pi;
  bad.flags = HIX_PAGE_W;
  EXPECT_EQ(hix_eadd(core, &bad, src.data(), page_pa(0), kSecs), HIX_ERR_INVALID_PARAM)
      << "not readable";
  bad = pi;
  bad.flags |= 0x10;
  EXPECT_EQ(hix_eadd(core, &bad, src.data(), page_pa(0), kSecs), HIX_ERR_INVALID_PARAM)
      << "unknown flag";
  bad = pi;
  bad.flags = HIX_PAGE_R | HIX_PAGE_TYPE_SECS;
  EXPECT_EQ(hix_eadd(core, &bad, src.data(), page_pa(0), kSecs), HIX_ERR_INVALID_PARAM)
      << "software cannot add a SECS";
  EXPECT_EQ(hix_eadd(core, &pi, src.data(), kSecsPa, kSecs), HIX_ERR_PAGE_IN_USE);
  ASSERT_EQ(hix_eadd(core, &pi, src.data(), page_pa(0), kSecs), HIX_OK);
  EXPECT_EQ(hix_eadd(core, &pi, src.data(), page_pa(1), kSecs), HIX_ERR_LINADDR_IN_USE);
}

TEST_F(Encls, TcsContentsAreValidated) {
  for (const PageSpec& tcs :
       {tcs_page(0x2000, {.entry = kSize, .stack = 0x2000}),
        tcs_page(0x2000, {.entry = 0, .stack = 0x2008}), tcs_page(0x2000, {.entry = 0, .stack = 0}),
        tcs_page(0x2000, {.entry = 0, .stack = kSize + 16})}) {
    CoreFixture g;
    EXPECT_EQ(build(&g.core, {code_page(0, 1), tcs}), HIX_ERR_INVALID_PARAM);
  }
  auto rx_tcs = tcs_page(0x2000, {.entry = 0, .stack = 0x2000});
  rx_tcs.flags = HIX_PAGE_R | HIX_PAGE_X | HIX_PAGE_TYPE_TCS;
  EXPECT_EQ(build(core, {code_page(0, 1), rx_tcs}), HIX_ERR_INVALID_PARAM);
}

TEST_F(Encls, EinitNeedsATcsAndClosesTheEnclave) {
  ASSERT_EQ(build(core, {code_page(0, 1)}, false), HIX_OK);
  EXPECT_EQ(hix_einit(core, kSecs), HIX_ERR_NO_TCS);
  CoreFixture g;
  ASSERT_EQ(build(&g.core, standard_pages()), HIX_OK);
  EXPECT_EQ(hix_einit(&g.core, kSecs), HIX_ERR_ENCLAVE_STATE);
  hix_pageinfo pi{};
  pi.linaddr = kBase + 0x5000;
  pi.flags = HIX_PAGE_R;
  const auto src = data_page(0, 0).bytes;
  EXPECT_EQ(hix_eadd(&g.core, &pi, src.data(), page_pa(9), kSecs), HIX_ERR_ENCLAVE_STATE);
  EXPECT_EQ(hix_eextend(&g.core, page_pa(0), kSecs), HIX_ERR_ENCLAVE_STATE);
}

TEST_F(Encls, EremoveScrubsAndFreesButNotASecsWithChildren) {
  ASSERT_EQ(build(core, standard_pages()), HIX_OK);
  EXPECT_EQ(hix_eremove(core, kSecsPa), HIX_ERR_CHILD_PRESENT);
  EXPECT_EQ(hix_eremove(core, page_pa(7)), HIX_ERR_NOT_EPC);
  for (std::size_t i = 0; i < 3; ++i) ASSERT_EQ(hix_eremove(core, page_pa(i)), HIX_OK);
  EXPECT_TRUE(all_zero(f.mem.at(page_pa(1)), HIX_PAGE_SIZE));
  ASSERT_EQ(hix_eremove(core, kSecsPa), HIX_OK);
  EXPECT_EQ(hix_epcm_count(core), 0u);
  EXPECT_EQ(core->enclaves[0].state, HIX_ENCLAVE_FREE);
}

TEST_F(Encls, EdestroyScrubsEveryPageUnlessAVcpuIsInside) {
  ASSERT_EQ(build(core, standard_pages()), HIX_OK);
  hix_enclave_entry in{};
  ASSERT_EQ(hix_eenter(core, hix_la(kBase + 0x2000), page_pa(2), &in), HIX_OK);
  EXPECT_EQ(hix_edestroy(core, kSecs), HIX_ERR_ENCLAVE_ACTIVE);
  EXPECT_EQ(hix_eremove(core, page_pa(1)), HIX_ERR_ENCLAVE_ACTIVE);
  hix_enclave_leave(core, in.enclave, page_pa(2));
  ASSERT_EQ(hix_edestroy(core, kSecs), HIX_OK);
  EXPECT_EQ(hix_epcm_count(core), 0u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_TRUE(all_zero(f.mem.at(page_pa(i)), HIX_PAGE_SIZE));
}

TEST_F(Encls, EenterLoadsEntryAndStackFromTheTcsAndTakesIt) {
  ASSERT_EQ(build(core, standard_pages()), HIX_OK);
  hix_enclave_entry in{};
  ASSERT_EQ(hix_eenter(core, hix_la(kBase + 0x2000), page_pa(2), &in), HIX_OK);
  EXPECT_EQ(in.enclave, 0);
  EXPECT_EQ(hix_la_addr(in.entry), kBase + 0x10);
  EXPECT_EQ(hix_la_addr(in.stack), kBase + 0x2000);
  EXPECT_EQ(hix_eenter(core, hix_la(kBase + 0x2000), page_pa(2), &in), HIX_ERR_TCS_BUSY);
  hix_enclave_leave(core, in.enclave, page_pa(2));
  EXPECT_EQ(hix_eenter(core, hix_la(kBase + 0x2000), page_pa(2), &in), HIX_OK);
}

TEST_F(Encls, EenterRefusesWrongTcsUninitialisedAndDeadEnclaves) {
  ASSERT_EQ(build(core, standard_pages(), false), HIX_OK);
  hix_enclave_entry in{};
  EXPECT_EQ(hix_eenter(core, hix_la(kBase + 0x2000), page_pa(2), &in), HIX_ERR_BAD_TCS)
      << "not initialised";
  ASSERT_EQ(hix_einit(core, kSecs), HIX_OK);
  EXPECT_EQ(hix_eenter(core, hix_la(kBase + 0x1000), page_pa(1), &in), HIX_ERR_BAD_TCS)
      << "a regular page";
  EXPECT_EQ(hix_eenter(core, hix_la(kBase + 0x3000), page_pa(2), &in), HIX_ERR_BAD_TCS)
      << "TCS at a remapped linear address";
  hix_enclave_mark_dead(core, 0);
  EXPECT_EQ(hix_eenter(core, hix_la(kBase + 0x2000), page_pa(2), &in), HIX_ERR_ENCLAVE_DEAD);
}

TEST_F(Encls, ScrubOfADeadEnclaveZeroesItsPagesButKeepsThemEpc) {
  ASSERT_EQ(build(core, standard_pages()), HIX_OK);
  hix_enclave_mark_dead(core, 0);
  hix_enclave_scrub(core, 0);
  EXPECT_TRUE(all_zero(f.mem.at(page_pa(0)), HIX_PAGE_SIZE));
  EXPECT_TRUE(all_zero(f.mem.at(page_pa(1)), HIX_PAGE_SIZE));
  EXPECT_EQ(hix_epcm_count(core), 4u);
}

TEST_F(Encls, TheEpcLimitIsEnforced) {
  CoreFixture small(true, 3);
  EXPECT_EQ(build(&small.core, standard_pages()), HIX_ERR_NO_SPACE);
}

TEST_F(Encls, ResetScrubsEverything) {
  ASSERT_EQ(build(core, standard_pages()), HIX_OK);
  hix_core_reset(core);
  EXPECT_EQ(hix_epcm_count(core), 0u);
  EXPECT_TRUE(all_zero(f.mem.at(page_pa(0)), HIX_PAGE_SIZE));
  EXPECT_EQ(core->enclaves[0].state, HIX_ENCLAVE_FREE);
  EXPECT_EQ(build(core, standard_pages()), HIX_OK) << "usable again";
}

TEST_F(Encls, ResetWithEnforceOffForgetsButKeepsTheContents) {
  CoreFixture off(false);
  ASSERT_EQ(build(&off.core, standard_pages()), HIX_OK);
  hix_core_reset(&off.core);
  EXPECT_EQ(hix_epcm_count(&off.core), 0u);
  EXPECT_FALSE(all_zero(off.mem.at(page_pa(0)), HIX_PAGE_SIZE)) << "the control's secret stays";
  EXPECT_EQ(off.core.enclaves[0].state, HIX_ENCLAVE_FREE);
}

}  // namespace
}  // namespace hix::test
