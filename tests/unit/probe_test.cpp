// hix-probe's register check against a fake register file that follows the
// spec's access table (STYLE.md §10: the MMIO seam's fake side).
#include <gtest/gtest.h>

#include <map>

#include "hix/gpu/register_io.hpp"
#include "probe.hpp"

namespace hix::probe {
namespace {

using gpu::Access;
using gpu::Reg32;

class FakeRegisterFile final : public gpu::RegisterIo {
 public:
  FakeRegisterFile() {
    for (const auto& d : gpu::kRegisters) values_[d.reg] = d.reset;
  }
  std::uint32_t read(Reg32 reg) override { return values_.at(reg); }
  void write(Reg32 reg, std::uint32_t value) override {
    if (gpu::find_register(gpu::offset_of(reg))->access == Access::rw) {
      values_[reg] = value;
    } else {
      ++values_[Reg32::badacc];
    }
    ++writes_;
  }
  int writes_ = 0;
  std::map<Reg32, std::uint32_t> values_;
};

TEST(Probe, ReadsIdentityAndRoundTripsScratch) {
  FakeRegisterFile regs;
  regs.values_[Reg32::scratch] = 0x1234;
  const RegisterReport r = probe_registers(regs, 0xA5A5A5A5u);
  EXPECT_EQ(r.id, gpu::kIdValue);
  EXPECT_EQ(r.version, gpu::kVersionValue);
  EXPECT_EQ(r.status & gpu::status::ready, gpu::status::ready);
  EXPECT_EQ(r.scratch_written, 0xA5A5A5A5u);
  EXPECT_EQ(r.scratch_read, 0xA5A5A5A5u);
  EXPECT_EQ(r.id_after_write, gpu::kIdValue) << "ID must be read-only";
  EXPECT_EQ(r.badacc, 1u) << "the refused ID write is counted";
  EXPECT_EQ(regs.values_[Reg32::scratch], 0x1234u) << "SCRATCH restored";
}

TEST(Probe, ReportsABrokenScratchRegister) {
  struct StuckScratch final : gpu::RegisterIo {
    std::uint32_t read(Reg32 reg) override { return reg == Reg32::id ? gpu::kIdValue : 0; }
    void write(Reg32, std::uint32_t) override {}
  } regs;
  const RegisterReport r = probe_registers(regs, 0x5A5A5A5Au);
  EXPECT_NE(r.scratch_read, r.scratch_written);
}

TEST(Probe, FormatIsKeyValue) {
  RegisterReport r;
  r.id = gpu::kIdValue;
  r.badacc = 3;
  const std::string line = format_report(r);
  EXPECT_NE(line.find("id=0x48495847"), std::string::npos);
  EXPECT_NE(line.find("badacc=3"), std::string::npos);
}

}  // namespace
}  // namespace hix::probe
