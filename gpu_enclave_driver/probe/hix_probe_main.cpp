// hix-probe: find the hix-gpu, print its BDF and BARs, map BAR0 through
// libpciaccess and print what its registers read.
//
// Output: human-readable lines, then one "HIX-PROBE key=value ..." line that
// tests parse. Exit status: 0 read, 2 no device, 3 probe/map failure.
#include <pciaccess.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "hix/gpu/bar0_access.hpp"
#include "hix/gpu/regs.hpp"
#include "probe.hpp"

namespace {

using hix::gpu::Reg32;

// BAR0 mapped into this process: the real side of the MMIO seam.
class MappedBar0 final : public hix::gpu::RegisterIo {
 public:
  explicit MappedBar0(void* base) : base_(base) {}

  std::uint32_t read(Reg32 reg) override { return hix::gpu::bar0_read(base_, reg); }
  void write(Reg32 reg, std::uint32_t value) override { hix::gpu::bar0_write(base_, reg, value); }

 private:
  void* base_;
};

constexpr std::uint32_t kScratchPattern = 0xC0FFEE01u;

}  // namespace

int main() {
  if (int err = pci_system_init(); err != 0) {
    std::fprintf(stderr, "hix-probe: pci_system_init: %s\n", std::strerror(err));
    return 3;
  }
  pci_id_match match{};
  match.vendor_id = hix::gpu::kVendorId;
  match.device_id = hix::gpu::kDeviceId;
  match.subvendor_id = PCI_MATCH_ANY;
  match.subdevice_id = PCI_MATCH_ANY;
  pci_device_iterator* iter = pci_id_match_iterator_create(&match);
  pci_device* dev = iter != nullptr ? pci_device_next(iter) : nullptr;
  pci_iterator_destroy(iter);
  if (dev == nullptr) {
    std::fprintf(stderr, "hix-probe: no hix-gpu (%04x:%04x) found\n", hix::gpu::kVendorId,
                 hix::gpu::kDeviceId);
    pci_system_cleanup();
    return 2;
  }
  if (int err = pci_device_probe(dev); err != 0) {
    std::fprintf(stderr, "hix-probe: probe failed: %s\n", std::strerror(err));
    pci_system_cleanup();
    return 3;
  }

  char bdf[32];
  std::snprintf(bdf, sizeof bdf, "%04x:%02x:%02x.%x", dev->domain, dev->bus, dev->dev, dev->func);
  std::printf("hix-probe: found hix-gpu %04x:%04x rev %02x class %06x at %s\n", dev->vendor_id,
              dev->device_id, dev->revision, dev->device_class, bdf);
  for (int i = 0; i < 6; ++i) {
    const pci_mem_region& region = dev->regions[i];
    if (region.size == 0) continue;
    std::printf("hix-probe: BAR%d base 0x%" PRIx64 " size 0x%" PRIx64 " (%s%s%s)\n", i,
                static_cast<std::uint64_t>(region.base_addr),
                static_cast<std::uint64_t>(region.size), region.is_IO ? "io" : "memory",
                region.is_64 ? ", 64-bit" : "", region.is_prefetchable ? ", prefetchable" : "");
  }

  const pci_mem_region& bar0 = dev->regions[0];
  void* base = nullptr;
  if (bar0.size == 0 || bar0.is_IO ||
      pci_device_map_range(dev, bar0.base_addr, bar0.size, PCI_DEV_MAP_FLAG_WRITABLE, &base) != 0) {
    std::fprintf(stderr, "hix-probe: cannot map BAR0\n");
    pci_system_cleanup();
    return 3;
  }
  MappedBar0 io(base);
  const hix::probe::RegisterReport report = hix::probe::probe_registers(io, kScratchPattern);
  std::printf("hix-probe: ID read through BAR0: 0x%08x\n", report.id);
  std::printf("HIX-PROBE bdf=%s bar0=0x%" PRIx64 " bar0_size=0x%" PRIx64 " %s\n", bdf,
              static_cast<std::uint64_t>(bar0.base_addr), static_cast<std::uint64_t>(bar0.size),
              hix::probe::format_report(report).c_str());
  pci_device_unmap_range(dev, base, bar0.size);
  pci_system_cleanup();
  return 0;
}
