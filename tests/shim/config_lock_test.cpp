// The configuration-space lock (docs/specs/hix-isa.md §14) walked byte by
// byte: every offset of every structure a locked endpoint or an upstream
// bridge can have, with every access size, against the writable masks read
// out of the spec's table. Default deny: a byte no row names is locked.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <regex>
#include <string>
#include <tuple>
#include <vector>

#include "../unit/spec_table.hpp"
#include "hix_core.h"

namespace hix::test {
namespace {

struct Row {
  bool endpoint;
  bool bridge;
  hix_cfg_area area;
  std::uint16_t cap_id;
  std::uint32_t offset;
  std::uint32_t size;
  std::uint32_t mask;
};

std::vector<Row> spec_rows() {
  static const std::regex row(
      R"(^\|\s*(both|upstream bridge|locked endpoint)\s*\|\s*(header|[^|(]*\((extended )?0x([0-9A-Fa-f]+)\))\s*\|[^|]*\|\s*0x([0-9A-Fa-f]+)\s*\|\s*(\d+)\s*\|\s*0x([0-9A-Fa-f]+))");
  std::vector<Row> rows;
  for (const auto& m : spec_captures(read_spec("docs/specs/hix-isa.md"), row)) {
    Row r{};
    r.endpoint = m[1] != "upstream bridge";
    r.bridge = m[1] != "locked endpoint";
    if (m[2] == "header") {
      r.area = HIX_CFG_HEADER;
    } else {
      r.area = m[3].empty() ? HIX_CFG_CAP : HIX_CFG_EXT_CAP;
      r.cap_id = static_cast<std::uint16_t>(std::stoul(m[4], nullptr, 16));
    }
    r.offset = static_cast<std::uint32_t>(std::stoul(m[5], nullptr, 16));
    r.size = static_cast<std::uint32_t>(std::stoul(m[6]));
    r.mask = static_cast<std::uint32_t>(std::stoul(m[7], nullptr, 16));
    rows.push_back(r);
  }
  return rows;
}

// The spec's writable mask of one byte.
std::uint8_t spec_byte(const std::vector<Row>& rows, bool bridge, hix_cfg_place at) {
  for (const Row& r : rows) {
    if ((bridge ? r.bridge : r.endpoint) && r.area == at.area &&
        (at.area == HIX_CFG_HEADER || r.cap_id == at.cap_id) && at.offset >= r.offset &&
        at.offset < r.offset + r.size) {
      return static_cast<std::uint8_t>(r.mask >> (8 * (at.offset - r.offset)));
    }
  }
  return 0;
}

// One write through the lock, the write spelled out as its struct.
bool filter(bool bridge, hix_cfg_place at, hix_cfg_write w, hix_cfg_filtered* out) {
  return hix_cfg_filter(bridge, at, &w, out);
}

// Every structure the walk covers: the header, the capabilities the table
// names, capabilities it does not name (MSI, MSI-X, bridge subsystem id,
// ACS) and bytes no structure claims.
struct Structure {
  const char* name;
  hix_cfg_area area;
  std::uint16_t cap_id;
  std::uint32_t bytes;
};
constexpr Structure kStructures[] = {
    {"header", HIX_CFG_HEADER, 0, 0x40},
    {"PCIe capability", HIX_CFG_CAP, 0x10, 0x3C},
    {"power management", HIX_CFG_CAP, 0x01, 0x08},
    {"MSI", HIX_CFG_CAP, 0x05, 0x18},
    {"MSI-X", HIX_CFG_CAP, 0x11, 0x0C},
    {"bridge subsystem id", HIX_CFG_CAP, 0x0D, 0x08},
    {"AER", HIX_CFG_EXT_CAP, 0x0001, 0x48},
    {"ACS", HIX_CFG_EXT_CAP, 0x000D, 0x08},
    {"unclaimed", HIX_CFG_UNCLAIMED, 0, 0x40},
};

TEST(ConfigLock, TheSpecTableHasEveryRow) {
  EXPECT_EQ(spec_rows().size(), 25u) << "docs/specs/hix-isa.md §14";
}

TEST(ConfigLock, EveryOffsetAndAccessSizeGetsTheSpecTablesVerdict) {
  const auto rows = spec_rows();
  ASSERT_FALSE(rows.empty());
  std::uint32_t checked = 0;
  for (const bool bridge : {false, true}) {
    for (const Structure& st : kStructures) {
      for (const std::uint32_t len : {1u, 2u, 4u}) {
        for (std::uint32_t off = 0; off + len <= st.bytes; off += len) {
          // Old value: a pattern; new value: every bit flipped, so each bit
          // either changes (writable) or is refused.
          const std::uint32_t old = 0x5A3C96E1u;
          const std::uint32_t val = ~old;
          std::uint32_t want_out = 0;
          std::uint32_t want_bytes = 0;
          bool want_denied = false;
          for (std::uint32_t i = 0; i < len; ++i) {
            const hix_cfg_place b{st.area, st.cap_id, off + i};
            const std::uint8_t w = spec_byte(rows, bridge, b);
            const auto o = static_cast<std::uint8_t>(old >> (8 * i));
            const auto v = static_cast<std::uint8_t>(val >> (8 * i));
            want_denied = want_denied || static_cast<std::uint8_t>(~w) != 0;
            if (w != 0) want_bytes |= 1u << i;
            want_out |= static_cast<std::uint32_t>(static_cast<std::uint8_t>((v & w) | (o & ~w)))
                        << (8 * i);
            EXPECT_EQ(hix_cfg_writable_byte(bridge, b), w)
                << (bridge ? "bridge " : "endpoint ") << st.name << " +0x" << std::hex << off + i;
          }
          const std::uint32_t keep = len == 4 ? ~0u : (1u << (8 * len)) - 1;
          hix_cfg_filtered out{};
          const bool denied = filter(bridge, hix_cfg_place{st.area, st.cap_id, off},
                                     {len, old & keep, val & keep}, &out);
          SCOPED_TRACE(testing::Message() << (bridge ? "bridge " : "endpoint ") << st.name << " +0x"
                                          << std::hex << off << " len " << len);
          EXPECT_EQ(denied, want_denied);
          EXPECT_EQ(out.value, want_out & keep);
          EXPECT_EQ(out.byte_mask, want_bytes);
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 500u);
}

TEST(ConfigLock, DefaultDenyCoversWhatTheOldTableLeftOpen) {
  hix_cfg_filtered out{};
  // The hix-gpu's bytes between the header and its PCIe capability, and the
  // root port's MSI-X message control: no row, no write.
  EXPECT_TRUE(filter(false, {HIX_CFG_UNCLAIMED, 0, 0x40}, {4, 0, 0x12345678}, &out));
  EXPECT_EQ(out.value, 0u);
  EXPECT_EQ(out.byte_mask, 0u);
  EXPECT_TRUE(filter(true, {HIX_CFG_CAP, 0x11, 2}, {2, 0x0000, 0x8000}, &out));
  EXPECT_EQ(out.value, 0u);
  // A bridge BAR (the root port's MSI-X table) is locked too.
  EXPECT_TRUE(filter(true, {HIX_CFG_HEADER, 0, 0x10}, {4, 0xfe800000, 0xfe900000}, &out));
  EXPECT_EQ(out.value, 0xfe800000u);
}

TEST(ConfigLock, WritesThatChangeNoLockedBitPassAndAreNotCounted) {
  hix_cfg_filtered out{};
  EXPECT_FALSE(filter(false, {HIX_CFG_HEADER, 0, 0x3C}, {1, 0x00, 0x0B}, &out)) << "interrupt line";
  EXPECT_EQ(out.value, 0x0Bu);
  EXPECT_EQ(out.byte_mask, 1u);
  EXPECT_FALSE(filter(false, {HIX_CFG_HEADER, 0, 0x10}, {4, 0xfe600000, 0xfe600000}, &out))
      << "rewriting the same BAR value changes nothing";
  EXPECT_TRUE(filter(false, {HIX_CFG_HEADER, 0, 0x04}, {4, 0x00100007, 0x00100005}, &out))
      << "clearing MEMORY in a 32-bit COMMAND/STATUS write";
  EXPECT_EQ(out.value & 0x7u, 0x7u);
  // Slot power off through Slot Control: dropped, the rest of the
  // capability's control registers keep working.
  EXPECT_TRUE(filter(true, {HIX_CFG_CAP, 0x10, 0x18}, {2, 0x01C0, 0x05C0}, &out));
  EXPECT_EQ(out.value & 0xFFFFu, 0x01C0u);
  EXPECT_FALSE(filter(false, {HIX_CFG_CAP, 0x10, 0x08}, {2, 0x0000, 0x000F}, &out))
      << "error reporting enables";
  EXPECT_EQ(out.value & 0xFFFFu, 0x000Fu);
}

}  // namespace
}  // namespace hix::test
