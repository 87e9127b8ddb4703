// Attack: SMM (docs/specs/hix-isa.md §16.4). An SMI makes the CPU save its
// whole state at SMBASE + 0xFE00 with physical writes, and RSM reloads it
// from there (SMBASE itself is reloaded from the save area): outside the
// TLB-fill EPC check in both directions. Root raises an SMI through the APM
// port (0xB2) with a marker in R12-R15 and looks for the marker in the save
// areas of the firmware's SMBASE (0xA0000 after SeaBIOS relocates it, read
// with SMRAM opened: D_OPEN) and of the reset SMBASE (0x30000).
//
// Path: apm-smi. No enclave exists meanwhile (so the chipset lock of §16.2
// does not stand in the way of opening SMRAM to look). The attacker runs on
// CPU 0: SeaBIOS relocates and serves SMIs on the boot CPU only, so an SMI
// on another CPU would run garbage at the reset SMBASE and never return.
#include <sched.h>

#include "platform_common.hpp"

namespace {

using namespace hix::platform;

constexpr std::uint32_t kSmramReg = 0x9D;  // MCH SMRAM
constexpr std::uint8_t kDOpen = 0x40;
constexpr std::uint64_t kSaveAreas[] = {0xA0000 + 0xFE00, 0x30000 + 0xFE00};
constexpr std::size_t kSaveBytes = 0x200;

bool marker_in(AttackDevice& dev, std::uint64_t marker, std::uint64_t* where) {
  for (const std::uint64_t area : kSaveAreas) {
    std::array<std::uint8_t, kSaveBytes> buf{};
    if (dev.read_phys(area, buf) != 0) continue;
    for (std::size_t i = 0; i + 8 <= buf.size(); i += 8) {
      std::uint64_t v = 0;
      std::memcpy(&v, buf.data() + i, 8);
      if (v == marker) {
        *where = area;
        return true;
      }
    }
  }
  return false;
}

}  // namespace

int main() {
  cpu_set_t cpu0;
  CPU_ZERO(&cpu0);
  CPU_SET(0, &cpu0);
  if (sched_setaffinity(0, sizeof cpu0, &cpu0) != 0) fail("sched_setaffinity: %s", strerror(errno));
  AttackDevice dev;
  Config mch(kMch);
  const auto smram = mch.read<std::uint8_t>(kSmramReg);
  mch.write<std::uint8_t>(kSmramReg, static_cast<std::uint8_t>(smram | kDOpen));
  const auto opened = mch.read<std::uint8_t>(kSmramReg);

  std::uint64_t marker = 0;
  if (getrandom(&marker, sizeof marker, 0) != static_cast<ssize_t>(sizeof marker))
    fail("getrandom");
  marker |= 1;
  std::uint64_t where = 0;
  const bool before = marker_in(dev, marker, &where);
  hix_attack_smi smi{marker, 0x42, {}};
  if (const int e = dev.call(HIX_ATTACK_SMI, &smi); e != 0) fail("SMI: %s", strerror(e));
  const bool entered = !before && marker_in(dev, marker, &where);
  mch.write<std::uint8_t>(kSmramReg, smram);
  report({.property = "smm", .path = "apm-smi", .outcome = outcome(entered)},
         "smram=0x%02x d_open=%s save_area=0x%llx", smram, yes_no((opened & kDOpen) != 0),
         static_cast<unsigned long long>(entered ? where : 0));
  return 0;
}
