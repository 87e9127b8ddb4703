// The hix-gpu register map (include/hix/...) against docs/specs/hix-gpu.md.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "hix/gpu/regs.hpp"
#include "spec_table.hpp"

namespace hix::gpu {
namespace {

std::string access_name(Access a) {
  switch (a) {
    case Access::ro:
      return "RO";
    case Access::rw:
      return "RW";
    case Access::wo:
      return "WO";
  }
  return "?";
}

class GpuRegsSpec : public ::testing::Test {
 protected:
  std::string spec = test::read_spec("docs/specs/hix-gpu.md");
};

TEST_F(GpuRegsSpec, SpecIsReadable) {
  ASSERT_FALSE(spec.empty());
  ASSERT_GE(test::spec_registers(spec).size(), 5u);
}

TEST_F(GpuRegsSpec, EverySpecRegisterIsInTheTableWithTheSameAccessAndReset) {
  for (const auto& row : test::spec_registers(spec)) {
    SCOPED_TRACE(row.name);
    const auto desc = find_register(BarOffset{row.offset});
    ASSERT_TRUE(desc.has_value()) << "spec register missing from the table";
    EXPECT_EQ(desc->name, row.name);
    EXPECT_EQ(access_name(desc->access), row.access);
    EXPECT_EQ(desc->reset, row.reset);
  }
}

TEST_F(GpuRegsSpec, EveryTableRegisterIsInTheSpec) {
  std::set<std::uint32_t> spec_offsets;
  for (const auto& row : test::spec_registers(spec)) spec_offsets.insert(row.offset);
  for (const auto& desc : kRegisters) {
    EXPECT_TRUE(spec_offsets.contains(offset_of(desc.reg).value)) << desc.name;
  }
}

TEST_F(GpuRegsSpec, PciIdentityMatchesTheSpec) {
  const auto id = test::spec_identity(spec);
  ASSERT_TRUE(id.contains("vendor id"));
  ASSERT_TRUE(id.contains("device id"));
  ASSERT_TRUE(id.contains("class code"));
  EXPECT_EQ(id.at("vendor id"), kVendorId);
  EXPECT_EQ(id.at("device id"), kDeviceId);
  EXPECT_EQ(id.at("class code"), kClassCode);
  EXPECT_EQ(id.at("revision"), HIX_GPU_REVISION);
  EXPECT_EQ(id.at("express capability"), HIX_GPU_PCIE_CAP_OFFSET);
}

TEST(GpuRegs, IdSpellsHixg) {
  const char ascii[] = {static_cast<char>(kIdValue >> 24), static_cast<char>(kIdValue >> 16),
                        static_cast<char>(kIdValue >> 8), static_cast<char>(kIdValue), 0};
  EXPECT_STREQ(ascii, "HIXG");
}

TEST(GpuRegs, ReservedOffsetsAreNotRegisters) {
  EXPECT_FALSE(find_register(BarOffset{0x0018}).has_value());
  EXPECT_FALSE(find_register(BarOffset{0x0002}).has_value());
  EXPECT_FALSE(find_register(BarOffset{kBar0Size - 4}).has_value());
}

TEST(GpuRegs, IdentityStatusAndCountersAreReadOnly) {
  for (const auto reg :
       {Reg32::id, Reg32::version, Reg32::status, Reg32::badacc, Reg32::caps, Reg32::cmd_status,
        Reg32::fence, Reg32::ring_head, Reg32::ring_seq, Reg32::ring_forged, Reg32::dma_denied}) {
    const auto desc = find_register(offset_of(reg));
    ASSERT_TRUE(desc.has_value());
    EXPECT_EQ(desc->access, Access::ro) << desc->name;
  }
}

TEST(GpuRegs, KeyWindowAndCommandCannotBeReadBack) {
  for (const auto reg : {Reg32::key0, Reg32::key7, Reg32::cmd, Reg32::doorbell}) {
    const auto desc = find_register(offset_of(reg));
    ASSERT_TRUE(desc.has_value());
    EXPECT_EQ(desc->access, Access::wo) << desc->name;
  }
}

}  // namespace
}  // namespace hix::gpu
