// The EPCM table: insert, find, remove, tombstone reuse, the EPC limit.
#include <gtest/gtest.h>

#include <array>
#include <memory>

#include "epcm.h"

namespace {

hix_pfn_t frame(std::uint64_t pfn) {
  return hix_pfn_t{pfn};
}

hix_epcm_entry entry(std::uint64_t pfn) {
  hix_epcm_entry e{};
  e.pfn = frame(pfn);
  e.linaddr = hix_la(pfn << 12);
  e.flags = HIX_PAGE_R;
  return e;
}

class Epcm : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(hix_epcm_init(&epcm, 8), 0); }
  void TearDown() override { hix_epcm_destroy(&epcm); }
  hix_epcm epcm{};
};

TEST_F(Epcm, FindsWhatWasInsertedAndNothingElse) {
  for (std::uint64_t pfn = 100; pfn < 105; ++pfn) {
    const hix_epcm_entry e = entry(pfn);
    ASSERT_TRUE(hix_epcm_insert(&epcm, &e));
  }
  for (std::uint64_t pfn = 100; pfn < 105; ++pfn) {
    const hix_epcm_entry* e = hix_epcm_find(&epcm, frame(pfn));
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(hix_la_addr(e->linaddr), pfn << 12);
  }
  EXPECT_EQ(hix_epcm_find(&epcm, frame(99)), nullptr);
  EXPECT_EQ(hix_epcm_find(&epcm, frame(105)), nullptr);
}

TEST_F(Epcm, RemovedEntriesAreGoneAndSlotsAreReused) {
  for (std::uint64_t round = 0; round < 100; ++round) {
    const hix_epcm_entry e = entry(1000 + round);
    ASSERT_TRUE(hix_epcm_insert(&epcm, &e)) << round;
    hix_epcm_entry* found = hix_epcm_find(&epcm, e.pfn);
    ASSERT_NE(found, nullptr);
    hix_epcm_remove(&epcm, found);
    EXPECT_EQ(hix_epcm_find(&epcm, e.pfn), nullptr);
  }
  EXPECT_EQ(epcm.used, 0u);
}

TEST_F(Epcm, RefusesBeyondTheLimit) {
  for (std::uint64_t pfn = 0; pfn < 8; ++pfn) {
    const hix_epcm_entry e = entry(pfn);
    ASSERT_TRUE(hix_epcm_insert(&epcm, &e));
  }
  const hix_epcm_entry extra = entry(8);
  EXPECT_FALSE(hix_epcm_insert(&epcm, &extra));
  EXPECT_EQ(hix_epcm_find(&epcm, frame(8)), nullptr);
}

TEST_F(Epcm, CollidingFramesAllResolve) {
  // Frames a capacity apart share a home slot.
  const std::uint64_t stride = epcm.capacity;
  for (std::uint64_t i = 0; i < 8; ++i) {
    const hix_epcm_entry e = entry(5 + i * stride);
    ASSERT_TRUE(hix_epcm_insert(&epcm, &e));
  }
  hix_epcm_remove(&epcm, hix_epcm_find(&epcm, frame(5 + 3 * stride)));
  for (std::uint64_t i = 0; i < 8; ++i) {
    EXPECT_EQ(hix_epcm_find(&epcm, frame(5 + i * stride)) != nullptr, i != 3) << i;
  }
}

}  // namespace

// The deny map the platform hands a lockable device (hix_epc_ranges).
class EpcRanges : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(hix_epcm_init(&core->epcm, 64), 0); }
  void TearDown() override { hix_epcm_destroy(&core->epcm); }
  void add(std::uint64_t pfn) {
    const hix_epcm_entry e = entry(pfn);
    ASSERT_TRUE(hix_epcm_insert(&core->epcm, &e));
  }
  std::unique_ptr<hix_core> core = std::make_unique<hix_core>();
};

TEST_F(EpcRanges, AnEmptyEpcIsNoRange) {
  EXPECT_EQ(hix_epc_ranges(core.get(), nullptr, 0), 0u);
}

TEST_F(EpcRanges, ContiguousPagesMergeAndRangesComeInAddressOrder) {
  for (std::uint64_t pfn : {0x305u, 0x100u, 0x102u, 0x101u, 0x300u, 0x304u}) add(pfn);
  std::array<hix_phys_range, 8> r{};
  ASSERT_EQ(hix_epc_ranges(core.get(), r.data(), r.size()), 3u);
  EXPECT_EQ(hix_pa_addr(r[0].pa), 0x100000u);
  EXPECT_EQ(r[0].size, 3u * HIX_PAGE_SIZE);
  EXPECT_EQ(hix_pa_addr(r[1].pa), 0x300000u);
  EXPECT_EQ(r[1].size, HIX_PAGE_SIZE);
  EXPECT_EQ(hix_pa_addr(r[2].pa), 0x304000u);
  EXPECT_EQ(r[2].size, 2u * HIX_PAGE_SIZE);
}

TEST_F(EpcRanges, ATooSmallArrayGetsTheFirstRangesAndTheTrueCount) {
  for (std::uint64_t pfn = 0; pfn < 10; ++pfn) add(pfn * 2);  // ten separate pages
  std::array<hix_phys_range, 4> r{};
  EXPECT_EQ(hix_epc_ranges(core.get(), r.data(), r.size()), 10u);
  EXPECT_EQ(hix_pa_addr(r[3].pa), 6u * HIX_PAGE_SIZE);
  EXPECT_EQ(r[3].size, HIX_PAGE_SIZE);
}
