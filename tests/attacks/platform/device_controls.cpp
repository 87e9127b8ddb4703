// Attack: the locked hix-gpu's removal and its PCI Express controls
// (docs/specs/hix-isa.md §16.5). Run under `hix-gpu-owner --serve SOCKET
// --run 'hix-platform-device-controls PATH...'`; each path plants a secret
// in SCRATCH through the owner first and asks the owner what it sees after.
//
//   link-disable    Link Control of the root port: Link Disable (bit 4);
//   slot-power-off  Slot Control of the root port: Power Controller Control
//                   (bit 10) off with the power indicator left on: QEMU
//                   powers the slot off and resets the locked device (BAR0
//                   and COMMAND to 0 behind the lock); then back on, BAR0
//                   and COMMAND put back;
//   acpi-eject      ACPI PCI hot-unplug of the slot (/sys/bus/pci/slots/N/
//                   power := 0: the kernel's acpiphp runs _EJ0, which writes
//                   QEMU's eject register): QEMU removed the locked device
//                   (and, before issue 17, kept a pointer to it); then a
//                   rescan shows whether it is still there.
#include <dirent.h>

#include <cerrno>
#include <fstream>
#include <string>

#include "lockdown_common.hpp"

namespace {

using namespace hix::lockdown;

constexpr std::uint32_t kCapPointer = 0x34;
constexpr std::uint8_t kCapIdExpress = 0x10;
constexpr std::uint32_t kLinkControl = 0x10;  // from the PCIe capability
constexpr std::uint32_t kSlotControl = 0x18;
constexpr std::uint32_t kLinkDisable = 1u << 4;
constexpr std::uint32_t kPowerOff = 1u << 10;
constexpr std::uint32_t kCommand = 0x04;
constexpr std::uint32_t kBar0 = 0x10;

std::uint32_t express_cap(ConfigAccess& cfg) {
  std::uint32_t at = cfg.read(kCapPointer, Width{1}) & 0xFC;
  for (int hops = 0; at != 0 && hops < 48; ++hops) {
    if (cfg.read(at, Width{1}) == kCapIdExpress) return at;
    at = cfg.read(at + 1, Width{1}) & 0xFC;
  }
  return 0;
}

// A bit of a register in the port's PCI Express capability.
struct ControlBit {
  std::uint32_t reg;
  std::uint32_t bit;
};

void control_register(OwnerClient& owner, const PciFunction& port, const char* path,
                      ControlBit control, const PciFunction& gpu) {
  const std::uint32_t reg = control.reg;
  const std::uint32_t bit = control.bit;
  auto cfg = sysfs_config(port);
  auto gcfg = sysfs_config(gpu);
  if (!cfg || !gcfg) {
    report({.property = "pcie-control", .path = path, .outcome = "refused"}, "errno=%d", errno);
    return;
  }
  const std::uint32_t cap = express_cap(*cfg);
  if (cap == 0) {
    report({.property = "pcie-control", .path = path, .outcome = "refused"},
           "no_express_capability=%s", port.name.c_str());
    return;
  }
  const std::uint32_t bar0 = gcfg->read(kBar0, Width{4});
  const std::uint32_t command = gcfg->read(kCommand, Width{2});
  const std::uint32_t secret = plant_secret(owner);
  const std::uint32_t before = cfg->read(cap + reg, Width{2});
  const std::uint32_t wrote = before | bit;
  cfg->write(cap + reg, Width{2}, wrote);
  const std::uint32_t readback = cfg->read(cap + reg, Width{2});
  const std::uint32_t bar0_during = gcfg->read(kBar0, Width{4});
  const auto during = owner.read(Reg32::scratch);
  cfg->write(cap + reg, Width{2}, before);
  // Put the device back where the lock had it (a reset zeroed it).
  if (gcfg->read(kBar0, Width{4}) != bar0) gcfg->write(kBar0, Width{4}, bar0);
  if (gcfg->read(kCommand, Width{2}) != command) gcfg->write(kCommand, Width{2}, command);
  const auto after = owner.read(Reg32::scratch);
  const bool moved = readback != before || bar0_during != bar0 || during != secret;
  report({.property = "pcie-control", .path = path, .outcome = outcome(moved)},
         "function=%s offset=0x%02x before=0x%04x wrote=0x%04x readback=0x%04x bar0=0x%08x "
         "bar0_during=0x%08x secret=0x%08x owner_during=%s owner_after=%s",
         port.name.c_str(), cap + reg, before, wrote, readback, bar0, bar0_during, secret,
         OwnerValue(during).c_str(), OwnerValue(after).c_str());
}

std::string slot_of(const PciFunction& gpu) {
  const std::string want = gpu.name.substr(0, gpu.name.size() - 2);  // "0000:01:00"
  DIR* d = opendir("/sys/bus/pci/slots");
  if (d == nullptr) return {};
  std::string found;
  while (const dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream address(std::string("/sys/bus/pci/slots/") + e->d_name + "/address");
    std::string a;
    if (std::getline(address, a) && a == want) found = e->d_name;
  }
  closedir(d);
  return found;
}

bool write_file(const std::string& path, const char* text) {
  std::ofstream f(path);
  f << text;
  f.flush();
  return static_cast<bool>(f);
}

bool present(const PciFunction& gpu) {
  return access(gpu.sysfs().c_str(), F_OK) == 0;
}

void acpi_eject(OwnerClient& owner, const PciFunction& gpu) {
  const std::string slot = slot_of(gpu);
  if (slot.empty()) {
    report({.property = "unplug", .path = "acpi-eject", .outcome = "refused"}, "no_slot_for=%s",
           gpu.name.c_str());
    return;
  }
  const std::uint32_t secret = plant_secret(owner);
  const bool ejected = write_file("/sys/bus/pci/slots/" + slot + "/power", "0");
  const bool gone_from_guest = !present(gpu);
  const auto during = owner.read(Reg32::scratch);
  write_file("/sys/bus/pci/rescan", "1");
  const bool back = present(gpu);
  const auto after = owner.read(Reg32::scratch);
  report(
      {.property = "unplug", .path = "acpi-eject", .outcome = outcome(!back || during != secret)},
      "slot=%s eject_write=%s gone_from_guest=%s present_after_rescan=%s secret=0x%08x "
      "owner_during=%s owner_after=%s",
      slot.c_str(), ejected ? "ok" : "failed", gone_from_guest ? "yes" : "no", back ? "yes" : "no",
      secret, OwnerValue(during).c_str(), OwnerValue(after).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  OwnerClient owner = OwnerClient::connect();
  const PciFunction gpu = require_hix_gpu();
  const auto port = upstream_bridge(gpu);
  if (!port) hix::attacks::fail("no bridge above %s", gpu.name.c_str());
  for (int i = 1; i < argc; ++i) {
    const std::string path = argv[i];
    if (path == "link-disable") {
      control_register(owner, *port, "link-disable", {.reg = kLinkControl, .bit = kLinkDisable},
                       gpu);
    } else if (path == "slot-power-off") {
      control_register(owner, *port, "slot-power-off", {.reg = kSlotControl, .bit = kPowerOff},
                       gpu);
    } else if (path == "acpi-eject") {
      acpi_eject(owner, gpu);
    } else {
      hix::attacks::fail("unknown path %s", path.c_str());
    }
  }
  return 0;
}
