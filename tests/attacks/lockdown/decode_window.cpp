// Attack (c): root takes the locked BAR off the bus without moving it: clear
// memory decoding in the hix-gpu's COMMAND register, in its root port's
// COMMAND register, or close the root port's memory window (0x20) so the BAR
// is no longer routed, then put everything back.
// Expected with HIX enforcing: each write is dropped (the register reads back
// unchanged) and the owner reaches its device throughout (spec §14: MEMORY
// of the locked endpoint and of every upstream bridge, and the bridges'
// windows, are locked; audit: config-write, config-write-bridge).
// Run under `hix-gpu-owner --serve SOCKET --run ...`.
#include <cerrno>

#include "lockdown_common.hpp"

namespace {

using namespace hix::lockdown;

constexpr const char* kProperty = "decode-window";
constexpr std::uint32_t kCommand = 0x04;              // PCI_COMMAND
constexpr std::uint32_t kCommandMemory = 0x2;         // PCI_COMMAND_MEMORY
constexpr std::uint32_t kMemoryWindow = 0x20;         // PCI_MEMORY_BASE, PCI_MEMORY_LIMIT
constexpr std::uint32_t kClosedWindow = 0x0000FFF0u;  // base 0xFFF00000 > limit 0x000FFFFF

struct Target {
  const char* path;
  const PciFunction* function;
  std::uint32_t offset;
  unsigned width;
  std::uint32_t (*change)(std::uint32_t);
};

void attack(OwnerClient& owner, const Target& t) {
  const auto cfg = sysfs_config(*t.function);
  if (!cfg) {
    report({.property = kProperty, .path = t.path, .outcome = "refused"}, "errno=%d", errno);
    return;
  }
  const std::uint32_t secret = plant_secret(owner);
  const std::uint32_t before = cfg->read(t.offset, Width{t.width});
  const std::uint32_t wrote = t.change(before);
  cfg->write(t.offset, Width{t.width}, wrote);
  const std::uint32_t readback = cfg->read(t.offset, Width{t.width});
  const auto during = owner.read(Reg32::scratch);
  cfg->write(t.offset, Width{t.width}, before);  // re-enable
  const std::uint32_t after = cfg->read(t.offset, Width{t.width});
  const auto owner_after = owner.read(Reg32::scratch);
  const bool changed = readback != before || during != secret;
  report({.property = kProperty, .path = t.path, .outcome = outcome(changed)},
         "function=%s offset=0x%02x before=0x%08x wrote=0x%08x readback=0x%08x after=0x%08x "
         "secret=0x%08x owner_during=%s owner_after=%s",
         t.function->name.c_str(), t.offset, before, wrote, readback, after, secret,
         OwnerValue(during).c_str(), OwnerValue(owner_after).c_str());
}

std::uint32_t clear_memory(std::uint32_t command) {
  return command & ~kCommandMemory;
}
std::uint32_t close_window(std::uint32_t /*window*/) {
  return kClosedWindow;
}

}  // namespace

int main() {
  OwnerClient owner = OwnerClient::connect();
  const PciFunction gpu = require_hix_gpu();
  const auto port = upstream_bridge(gpu);
  if (!port) hix::attacks::fail("no bridge above %s", gpu.name.c_str());

  attack(owner, {"command-memory", &gpu, kCommand, 2, clear_memory});
  attack(owner, {"bridge-command-memory", &*port, kCommand, 2, clear_memory});
  attack(owner, {"bridge-window", &*port, kMemoryWindow, 4, close_window});
  return 0;
}
