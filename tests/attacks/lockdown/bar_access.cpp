// Attack (a): root reads and writes the locked hix-gpu's BAR0 directly,
// bypassing the GPU enclave: through sysfs resource0, /dev/mem (boot with
// iomem=relaxed), an ioremap in hix_attack.ko and libpciaccess.
// Expected with HIX enforcing: every path reads all-ones instead of the
// secret the owner put in SCRATCH, and the forged write never reaches the
// device (the owner reads its secret back): spec §13, abort-page semantics
// for every CPU access outside the owner's GLRANGE (audit: bar-read,
// bar-write).
// Run under `hix-gpu-owner --serve SOCKET --run ...`.
#include <pciaccess.h>

#include <cerrno>
#include <cstring>

#include "lockdown_common.hpp"

namespace {

using namespace hix::lockdown;

constexpr const char* kProperty = "bar-access";

// BAR0 through hix_attack.ko's ioremap: a kernel (CPL 0) mapping.
class IoremapRegisters final : public hix::gpu::RegisterIo {
 public:
  IoremapRegisters(int fd, std::uint64_t bar0) : fd_(fd), bar0_(bar0) {}
  std::uint32_t read(Reg32 reg) override {
    hix_attack_mmio32 req{bar0_ + hix::gpu::offset_of(reg).value, 0, 0};
    return ::ioctl(fd_, HIX_ATTACK_READ32_IOREMAP, &req) == 0 ? req.value : 0xDEADBEEFu;
  }
  void write(Reg32 reg, std::uint32_t value) override {
    hix_attack_mmio32 req{bar0_ + hix::gpu::offset_of(reg).value, value, 0};
    if (::ioctl(fd_, HIX_ATTACK_WRITE32_IOREMAP, &req) != 0) {
      std::fprintf(stderr, "WRITE32_IOREMAP: %s\n", std::strerror(errno));
    }
  }

 private:
  int fd_;
  std::uint64_t bar0_;
};

// One path: read ID and SCRATCH, then forge SCRATCH, through `regs`.
void attack(OwnerClient& owner, const char* path, hix::gpu::RegisterIo& regs, std::uint64_t bar0) {
  const std::uint32_t secret = plant_secret(owner);
  const std::uint32_t id = regs.read(Reg32::id);
  const std::uint32_t read = regs.read(Reg32::scratch);
  const std::uint32_t forged = secret ^ 0x5A5A5A5Au;
  regs.write(Reg32::scratch, forged);
  const auto after = owner.read(Reg32::scratch);
  const bool leaked = read == secret || id == hix::gpu::kIdValue;
  const bool landed = after == forged;
  report({.property = kProperty, .path = path, .outcome = outcome(leaked || landed)},
         "read=0x%08x id=0x%08x secret=0x%08x forged=0x%08x owner_after=%s read_leaked=%s "
         "write_landed=%s bar0=0x%llx",
         read, id, secret, forged, OwnerValue(after).c_str(), leaked ? "yes" : "no",
         landed ? "yes" : "no", static_cast<unsigned long long>(bar0));
}

void refused(const char* path, const char* why, int err) {
  report({.property = kProperty, .path = path, .outcome = "refused"}, "why=%s errno=%d", why, err);
}

// Where a mapping of BAR0 comes from: `file` (sysfs resource0, /dev/mem) at
// byte `offset`.
struct MappingSource {
  std::string file;
  std::uint64_t offset;
};

void via_mapping(OwnerClient& owner, const char* path, const MappingSource& from,
                 std::uint64_t bar0) {
  const auto map = MappedRange::map(from.file, from.offset, hix::gpu::kBar0Size);
  if (!map) {
    refused(path, "mmap", errno);
    return;
  }
  PointerRegisters regs(map->data());
  attack(owner, path, regs, bar0);
}

void via_libpciaccess(OwnerClient& owner, std::uint64_t bar0) {
  constexpr const char* kPath = "libpciaccess";
  if (const int err = pci_system_init(); err != 0) {
    refused(kPath, "pci_system_init", err);
    return;
  }
  pci_id_match match{};
  match.vendor_id = hix::gpu::kVendorId;
  match.device_id = hix::gpu::kDeviceId;
  match.subvendor_id = PCI_MATCH_ANY;
  match.subdevice_id = PCI_MATCH_ANY;
  pci_device_iterator* it = pci_id_match_iterator_create(&match);
  pci_device* dev = it != nullptr ? pci_device_next(it) : nullptr;
  pci_iterator_destroy(it);
  void* p = nullptr;
  int err = dev == nullptr ? ENODEV : pci_device_probe(dev);
  if (err == 0) {
    err = pci_device_map_range(dev, dev->regions[0].base_addr, dev->regions[0].size,
                               PCI_DEV_MAP_FLAG_WRITABLE, &p);
  }
  if (err != 0) {
    refused(kPath, "pci_device_map_range", err);
  } else {
    PointerRegisters regs(p);
    attack(owner, kPath, regs, bar0);
    (void)pci_device_unmap_range(dev, p, dev->regions[0].size);
  }
  pci_system_cleanup();
}

}  // namespace

int main() {
  OwnerClient owner = OwnerClient::connect();
  const PciFunction gpu = require_hix_gpu();
  const auto bar0 = bar_resource(gpu, 0);
  if (!bar0) hix::attacks::fail("hix-gpu BAR0 unassigned");

  via_mapping(owner, "sysfs-resource0", {.file = gpu.sysfs() + "/resource0", .offset = 0},
              bar0->base);
  via_mapping(owner, "devmem", {.file = "/dev/mem", .offset = bar0->base}, bar0->base);
  {
    hix::attacks::AttackDevice load;  // insmods hix_attack.ko if needed
  }
  const int fd = ::open(HIX_ATTACK_DEVICE, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    refused("ioremap", "open", errno);
  } else {
    IoremapRegisters regs(fd, bar0->base);
    attack(owner, "ioremap", regs, bar0->base);
    ::close(fd);
  }
  via_libpciaccess(owner, bar0->base);
  return 0;
}
