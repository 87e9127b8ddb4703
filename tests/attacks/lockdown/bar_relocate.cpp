// Attack (b): root moves the locked hix-gpu's BAR0 by writing the BAR in
// configuration space, through sysfs (what setpci does), raw CF8/CFC port I/O
// and ECAM (MMCONFIG, the MCFG table's window mapped from /dev/mem; boot
// with iomem=relaxed). Each path also sizes the BAR (all-ones, read back).
// The sysfs path is also aimed over guest RAM and over another device's BAR.
// A last path leaves the locked BAR alone and moves another device's BAR
// (edu's) onto its address instead.
// Expected with HIX enforcing: the BAR reads back unchanged and the owner
// still reaches its device through its GLRANGE (spec §14: locked BARs are
// write-once; audit: config-write); sizing answers the size mask, as the
// hardware would; and whatever another device does, the owner's GLRANGE
// keeps reaching the hix-gpu (its ID, its SCRATCH).
// Run under `hix-gpu-owner --serve SOCKET --run ...`.
#include <cerrno>

#include "lockdown_common.hpp"

namespace {

using namespace hix::lockdown;

constexpr const char* kProperty = "bar-relocate";
constexpr std::uint32_t kBar0 = 0x10;  // PCI_BASE_ADDRESS_0

// Somewhere else in the 32-bit MMIO hole: 16 MiB away from BAR0.
std::uint32_t elsewhere(std::uint32_t bar) {
  return bar >= 0xC1000000u ? bar - 0x01000000u : bar + 0x01000000u;
}

// A BAR0 address inside guest RAM (the VM has 1 GiB from 0).
constexpr std::uint32_t kOverRam = 0x08000000u;

// target 0: elsewhere in the MMIO hole.
void attack(OwnerClient& owner, const char* path, ConfigAccess& cfg, std::uint32_t target = 0) {
  const std::uint32_t secret = plant_secret(owner);
  const std::uint32_t before = cfg.read(kBar0, Width{4});
  if (target == 0) target = elsewhere(before);
  cfg.write(kBar0, Width{4}, target);
  const std::uint32_t moved = cfg.read(kBar0, Width{4});
  const auto during = owner.read(Reg32::scratch);
  // Put it back (the control run needs its device afterwards).
  cfg.write(kBar0, Width{4}, before);

  // BAR sizing: all-ones, read, then the original value ends the probe.
  cfg.write(kBar0, Width{4}, 0xFFFFFFFFu);
  const std::uint32_t sizing = cfg.read(kBar0, Width{4});
  cfg.write(kBar0, Width{4}, before);
  const std::uint32_t after = cfg.read(kBar0, Width{4});
  const auto owner_after = owner.read(Reg32::scratch);

  const bool relocated = moved != before || during != secret;
  report({.property = kProperty, .path = path, .outcome = outcome(relocated)},
         "bar_before=0x%08x bar_target=0x%08x bar_readback=0x%08x bar_after=0x%08x "
         "sizing=0x%08x secret=0x%08x owner_during=%s owner_after=%s",
         before, target, moved, after, sizing, secret, OwnerValue(during).c_str(),
         OwnerValue(owner_after).c_str());
}

// Another device's BAR moved onto the locked one: the locked BAR itself does
// not move, but whatever decodes at its address may change. edu (1 MiB BAR0)
// when the VM has it.
void overlap(OwnerClient& owner, const PciFunction& gpu, std::uint64_t bar0) {
  constexpr const char* kPath = "other-bar-overlap";
  const auto other = find_pci(0x1234, 0x11E8);
  const auto cfg = other ? sysfs_config(*other) : nullptr;
  if (!cfg) {
    report({.property = kProperty, .path = kPath, .outcome = "refused"}, "why=no-edu");
    return;
  }
  const std::uint32_t secret = plant_secret(owner);
  const std::uint32_t command = cfg->read(0x04, Width{2});
  cfg->write(0x04, Width{2}, command | 0x2u);  // its memory decoding on
  const std::uint32_t before = cfg->read(kBar0, Width{4});
  const auto target = static_cast<std::uint32_t>(bar0 & ~std::uint64_t{0xFFFFF});
  cfg->write(kBar0, Width{4}, target);
  const std::uint32_t moved = cfg->read(kBar0, Width{4});
  const auto id = owner.read(Reg32::id);
  const auto during = owner.read(Reg32::scratch);
  cfg->write(kBar0, Width{4}, before);
  cfg->write(0x04, Width{2}, command);
  const auto owner_after = owner.read(Reg32::scratch);
  const bool hijacked = id != hix::gpu::kIdValue || during != secret;
  report({.property = kProperty, .path = kPath, .outcome = outcome(hijacked)},
         "other=%s other_bar_before=0x%08x other_bar_readback=0x%08x locked_bar=0x%llx "
         "owner_id=%s secret=0x%08x owner_during=%s owner_after=%s gpu=%s",
         other->name.c_str(), before, moved, static_cast<unsigned long long>(bar0),
         OwnerValue(id).c_str(), secret, OwnerValue(during).c_str(),
         OwnerValue(owner_after).c_str(), gpu.name.c_str());
}

}  // namespace

int main() {
  OwnerClient owner = OwnerClient::connect();
  const PciFunction gpu = require_hix_gpu();
  struct Path {
    const char* name;
    std::unique_ptr<ConfigAccess> (*open)(const PciFunction&);
  };
  const Path paths[] = {
      {"sysfs-config", sysfs_config}, {"cf8-cfc", cf8_config}, {"ecam", ecam_config}};
  for (const Path& p : paths) {
    const auto cfg = p.open(gpu);
    if (!cfg) {
      report({.property = kProperty, .path = p.name, .outcome = "refused"}, "errno=%d", errno);
      continue;
    }
    attack(owner, p.name, *cfg);
  }
  // The same write, aimed over guest RAM and over another device's BAR.
  if (const auto cfg = sysfs_config(gpu)) {
    attack(owner, "sysfs-config-over-ram", *cfg, kOverRam);
    const auto other = find_pci(0x1234, 0x11E8);
    const auto other_bar = other ? bar_resource(*other, 0) : std::nullopt;
    if (other_bar) {
      attack(owner, "sysfs-config-over-device", *cfg, static_cast<std::uint32_t>(other_bar->base));
    } else {
      report({.property = kProperty, .path = "sysfs-config-over-device", .outcome = "refused"},
             "why=no-edu");
    }
  }
  const auto bar0 = bar_resource(gpu, 0);
  if (!bar0) hix::attacks::fail("hix-gpu BAR0 unassigned");
  overlap(owner, gpu, bar0->base);
  return 0;
}
