// Platform paths around the EPC check (docs/specs/hix-isa.md §16): the
// chipset decode lock (§16.2) and the PCI Express controls of a locked device
// (§16.5), each table checked against the spec's, and when the chipset lock
// is engaged.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "../unit/spec_table.hpp"
#include "enclave_builder.hpp"

namespace hix::test {
namespace {

struct ChipsetRow {
  hix_chipset chip;
  std::uint32_t offset, size;
};

std::vector<ChipsetRow> spec_chipset_rows() {
  static const std::regex row(
      R"(^\|\s*(MCH|ICH9 LPC) \([0-9a-f:.]+\)\s*\|[^|]*\|\s*0x([0-9A-Fa-f]+)\s*\|\s*(\d+)\s*\|)");
  std::vector<ChipsetRow> rows;
  std::istringstream lines(read_spec("docs/specs/hix-isa.md"));
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, row)) {
      rows.push_back({m[1] == "MCH" ? HIX_CHIPSET_MCH : HIX_CHIPSET_LPC,
                      static_cast<std::uint32_t>(std::stoul(m[2], nullptr, 16)),
                      static_cast<std::uint32_t>(std::stoul(m[3]))});
    }
  }
  return rows;
}

bool listed(const std::vector<ChipsetRow>& rows, hix_chipset chip, std::uint32_t b) {
  for (const ChipsetRow& r : rows) {
    if (r.chip == chip && b >= r.offset && b < r.offset + r.size) return true;
  }
  return false;
}

TEST(ChipsetLock, FollowsTheSpecTableByteForByte) {
  const auto rows = spec_chipset_rows();
  ASSERT_EQ(rows.size(), 6u) << "spec §16.2 table";
  for (const hix_chipset chip : {HIX_CHIPSET_MCH, HIX_CHIPSET_LPC}) {
    for (std::uint32_t b = 0; b < 256; ++b) {
      SCOPED_TRACE(testing::Message() << "chip " << chip << " byte 0x" << std::hex << b);
      const hix_cfg_write w{1, 0x00, 0xFF};
      hix_cfg_filtered out{};
      const bool denied = hix_chipset_filter(chip, b, &w, &out);
      if (listed(rows, chip, b)) {
        EXPECT_TRUE(denied);
        EXPECT_EQ(out.byte_mask, 0u) << "the register keeps its value";
      } else {
        EXPECT_FALSE(denied);
        EXPECT_EQ(out.value, 0xFFu);
        EXPECT_EQ(out.byte_mask, 1u);
      }
    }
  }
}

TEST(ChipsetLock, AWideWriteKeepsOnlyTheLockedBytes) {
  hix_cfg_filtered out{};
  // 0x9C..0x9F: F_SMBASE, SMRAM, ESMRAMC locked; 0x9F passes.
  const hix_cfg_write smram{4, 0x00383A00, 0x11B84A02};
  EXPECT_TRUE(hix_chipset_filter(HIX_CHIPSET_MCH, 0x9C, &smram, &out));
  EXPECT_EQ(out.byte_mask, 0x8u);
  EXPECT_EQ(out.value >> 24, 0x11u);
  // Rewriting the value a register has is no denial.
  const hix_cfg_write same{4, 0xFED1C001, 0xFED1C001};
  EXPECT_FALSE(hix_chipset_filter(HIX_CHIPSET_LPC, 0xF0, &same, &out));
}

TEST(ChipsetLock, EngagedWhileAnyEpcPageExistsOnAnEnforcingPlatform) {
  CoreFixture f;
  EXPECT_FALSE(hix_chipset_locked(&f.core));
  ASSERT_EQ(build(&f.core, standard_pages()), HIX_OK);
  EXPECT_TRUE(hix_chipset_locked(&f.core));
  ASSERT_EQ(hix_edestroy(&f.core, kSecs), HIX_OK);
  EXPECT_FALSE(hix_chipset_locked(&f.core));

  CoreFixture control(/*enforce=*/false);
  ASSERT_EQ(build(&control.core, standard_pages()), HIX_OK);
  EXPECT_FALSE(hix_chipset_locked(&control.core)) << "enforce=off: the control";
}

}  // namespace
}  // namespace hix::test
