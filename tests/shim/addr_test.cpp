// The core's address types (hypervisor_shim/core/addr.h): each space is its
// own type, so a swapped or mixed operand is a compile error, and the
// helpers compute what the raw arithmetic did.
#include <gtest/gtest.h>

#include <type_traits>

#include "hix_core.h"

namespace {

TEST(AddressTypes, NoSpaceConvertsToAnotherOrFromARawInteger) {
  EXPECT_FALSE((std::is_convertible_v<hix_paddr_t, hix_laddr_t>));
  EXPECT_FALSE((std::is_convertible_v<hix_laddr_t, hix_paddr_t>));
  EXPECT_FALSE((std::is_convertible_v<hix_paddr_t, hix_secs_t>));
  EXPECT_FALSE((std::is_convertible_v<hix_secs_t, hix_paddr_t>));
  EXPECT_FALSE((std::is_convertible_v<hix_paddr_t, hix_pfn_t>));
  EXPECT_FALSE((std::is_convertible_v<std::uint64_t, hix_paddr_t>));
  EXPECT_FALSE((std::is_convertible_v<std::uint64_t, hix_laddr_t>));
  EXPECT_FALSE((std::is_convertible_v<std::uint32_t, hix_bdf_t>));
  EXPECT_FALSE((std::is_convertible_v<hix_bdf_t, std::uint32_t>));
}

TEST(AddressTypes, EnclsOperandsInTheWrongOrderDoNotCompile) {
  // EADD and EEXTEND: the page and the SECS cannot trade places.
  EXPECT_TRUE((std::is_invocable_v<decltype(hix_eadd), hix_core*, const hix_pageinfo*,
                                   const std::uint8_t*, hix_paddr_t, hix_secs_t>));
  EXPECT_FALSE((std::is_invocable_v<decltype(hix_eadd), hix_core*, const hix_pageinfo*,
                                    const std::uint8_t*, hix_secs_t, hix_paddr_t>));
  EXPECT_TRUE((std::is_invocable_v<decltype(hix_eextend), hix_core*, hix_paddr_t, hix_secs_t>));
  EXPECT_FALSE((std::is_invocable_v<decltype(hix_eextend), hix_core*, hix_secs_t, hix_paddr_t>));
  // EENTER: the TCS's linear and physical addresses.
  EXPECT_TRUE((std::is_invocable_v<decltype(hix_eenter), hix_core*, hix_laddr_t, hix_paddr_t,
                                   hix_enclave_entry*>));
  EXPECT_FALSE((std::is_invocable_v<decltype(hix_eenter), hix_core*, hix_paddr_t, hix_laddr_t,
                                    hix_enclave_entry*>));
  // A raw register value is not an address until the caller says which.
  EXPECT_FALSE((std::is_invocable_v<decltype(hix_einit), hix_core*, std::uint64_t>));
  EXPECT_FALSE((std::is_invocable_v<decltype(hix_lock_by_bdf), const hix_core*, std::uint32_t>));
}

TEST(AddressTypes, TheWrappersAddNothingToTheLayout) {
  EXPECT_EQ(sizeof(hix_paddr_t), sizeof(std::uint64_t));
  EXPECT_EQ(sizeof(hix_laddr_t), sizeof(std::uint64_t));
  EXPECT_EQ(sizeof(hix_pfn_t), sizeof(std::uint64_t));
  EXPECT_EQ(sizeof(hix_secs_t), sizeof(std::uint64_t));
  EXPECT_EQ(sizeof(hix_bdf_t), sizeof(std::uint32_t));
}

TEST(AddressTypes, PhysicalPagesAndFramesRoundTrip) {
  const hix_paddr_t pa = hix_pa(0x12345678);
  EXPECT_EQ(hix_pa_addr(hix_pa_page(pa)), 0x12345000u);
  EXPECT_EQ(hix_pa_page_offset(pa), 0x678u);
  EXPECT_EQ(hix_pfn_value(hix_pa_pfn(pa)), 0x12345u);
  EXPECT_EQ(hix_pa_addr(hix_pfn_pa(hix_pa_pfn(pa))), 0x12345000u);
  EXPECT_TRUE(hix_pa_is_aligned(hix_pa(0x12345600), 0x100));
  EXPECT_FALSE(hix_pa_is_aligned(pa, 0x100));
  EXPECT_EQ(hix_pa_addr(hix_pa_add(pa, 8)), 0x12345680u);
  EXPECT_TRUE(hix_pa_eq(hix_secs_pa(hix_secs(pa)), pa));
}

TEST(AddressTypes, LinearRangesHoldTheirStartNotTheirEndAndNeverWrap) {
  const hix_laddr_t base = hix_la(0x10000000);
  EXPECT_TRUE(hix_la_in(base, base, 0x1000));
  EXPECT_TRUE(hix_la_in(hix_la(0x10000fff), base, 0x1000));
  EXPECT_FALSE(hix_la_in(hix_la(0x10001000), base, 0x1000));
  EXPECT_FALSE(hix_la_in(hix_la(0x0fffffff), base, 0x1000)) << "below the range";
  EXPECT_FALSE(hix_la_in(hix_la(0x10), hix_la(~0ull - 0xfff), 0x2000))
      << "a range that would wrap past the top holds nothing below its base";
  EXPECT_EQ(hix_la_offset(hix_la(0x10002345), base), 0x2345u);
  EXPECT_EQ(hix_la_addr(hix_la_page(hix_la(0x10002345))), 0x10002000u);
}

}  // namespace
