// The hix-gpu in sysfs (pci_sysfs.hpp).
#include "pci_sysfs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "hix/gpu/bar0_access.hpp"
#include "hix/gpu/regs.hpp"

namespace hix::hixd {
namespace {

std::optional<std::uint32_t> parse_bdf(const std::string& name) {
  unsigned domain = 0;
  unsigned bus = 0;
  unsigned dev = 0;
  unsigned fn = 0;
  char tail = 0;
  if (std::sscanf(name.c_str(), "%4x:%2x:%2x.%1x%c", &domain, &bus, &dev, &fn, &tail) != 4 ||
      domain != 0 || bus > 255 || dev > 31 || fn > 7) {
    return std::nullopt;
  }
  return bus << 8 | dev << 3 | fn;
}

std::optional<unsigned long> read_hex(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text)) return std::nullopt;
  char* end = nullptr;
  const unsigned long v = std::strtoul(text.c_str(), &end, 16);
  if (end == text.c_str()) return std::nullopt;
  return v;
}

// BAR0's size from sysfs "resource" (first line: start end flags).
std::optional<std::uint64_t> bar0_size(const std::string& sysfs) {
  std::ifstream in(sysfs + "/resource");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  unsigned long long start = 0;
  unsigned long long end = 0;
  unsigned long long flags = 0;
  if (std::sscanf(line.c_str(), "%llx %llx %llx", &start, &end, &flags) != 3 || end <= start) {
    return std::nullopt;
  }
  return end - start + 1;
}

}  // namespace

std::optional<PciDevice> find_hix_gpu(std::string& why) {
  DIR* dir = ::opendir("/sys/bus/pci/devices");
  if (dir == nullptr) {
    why = std::string("/sys/bus/pci/devices: ") + std::strerror(errno);
    return std::nullopt;
  }
  std::optional<PciDevice> found;
  while (const dirent* e = ::readdir(dir)) {
    const std::string name = e->d_name;
    const auto bdf = parse_bdf(name);
    if (!bdf) continue;
    const std::string base = "/sys/bus/pci/devices/" + name;
    if (read_hex(base + "/vendor") == gpu::kVendorId &&
        read_hex(base + "/device") == gpu::kDeviceId) {
      found = PciDevice{name, *bdf, 0};
      break;
    }
  }
  ::closedir(dir);
  if (!found) {
    why = "no hix-gpu (vendor 0x1234, device 0x4858) in sysfs";
    return std::nullopt;
  }
  const auto size = bar0_size(found->sysfs());
  if (!size || *size != gpu::kBar0Size) {
    why = found->name + ": BAR0 unassigned or not 64 KiB";
    return std::nullopt;
  }
  found->bar0_size = *size;
  return found;
}

std::unique_ptr<SysfsBar0> SysfsBar0::map(const PciDevice& dev, std::string& why) {
  const std::string path = dev.sysfs() + "/resource0";
  const int fd = ::open(path.c_str(), O_RDWR | O_SYNC | O_CLOEXEC);
  if (fd < 0) {
    why = path + ": " + std::strerror(errno);
    return nullptr;
  }
  void* p = ::mmap(nullptr, dev.bar0_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int err = errno;
  ::close(fd);
  if (p == MAP_FAILED) {
    why = "mmap of " + path + ": " + std::strerror(err);
    return nullptr;
  }
  return std::unique_ptr<SysfsBar0>(new SysfsBar0(p, dev.bar0_size));
}

SysfsBar0::~SysfsBar0() {
  ::munmap(base_, size_);
}

std::uint32_t SysfsBar0::read32(gpu::Reg32 reg) {
  return gpu::bar0_read(base_, reg);
}

void SysfsBar0::write32(gpu::Reg32 reg, std::uint32_t value) {
  gpu::bar0_write(base_, reg, value);
}

}  // namespace hix::hixd
