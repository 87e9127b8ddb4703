// PCI from a root process in the guest: sysfs, CF8/CFC, ECAM, BAR mappings.
#include "pci.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "hix/gpu/bar0_access.hpp"

namespace hix::lockdown {

namespace {

constexpr std::uint64_t kPage = 4096;

std::optional<std::uint32_t> parse_bdf(const std::string& name) {
  unsigned domain = 0;
  unsigned bus = 0;
  unsigned dev = 0;
  unsigned fn = 0;
  char tail = 0;
  if (std::sscanf(name.c_str(), "%4x:%2x:%2x.%1x%c", &domain, &bus, &dev, &fn, &tail) != 4 ||
      domain != 0 || dev > 31 || fn > 7) {
    return std::nullopt;
  }
  return bus << 8 | dev << 3 | fn;
}

std::optional<unsigned long> read_hex_file(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text)) return std::nullopt;
  char* end = nullptr;
  const unsigned long v = std::strtoul(text.c_str(), &end, 16);
  if (end == text.c_str()) return std::nullopt;
  return v;
}

class SysfsConfig final : public ConfigAccess {
 public:
  explicit SysfsConfig(int fd) : fd_(fd) {}
  ~SysfsConfig() override { ::close(fd_); }
  SysfsConfig(const SysfsConfig&) = delete;
  SysfsConfig& operator=(const SysfsConfig&) = delete;

  std::uint32_t read(std::uint32_t offset, Width w) override {
    const unsigned width = w.bytes;
    std::uint32_t v = 0;
    if (pread(fd_, &v, width, offset) != static_cast<ssize_t>(width)) return ~0u;
    return v;
  }
  void write(std::uint32_t offset, Width w, std::uint32_t value) override {
    const unsigned width = w.bytes;
    // The kernel turns this into one configuration write of `width` bytes.
    if (pwrite(fd_, &value, width, offset) != static_cast<ssize_t>(width)) {
      std::fprintf(stderr, "sysfs config write at 0x%x: %s\n", offset, std::strerror(errno));
    }
  }

 private:
  int fd_;
};

// Configuration mechanism #1 (PCI Local Bus spec 3.2.2.3.2).
class Cf8Config final : public ConfigAccess {
 public:
  explicit Cf8Config(std::uint32_t bdf) : bdf_(bdf) {}

  std::uint32_t read(std::uint32_t offset, Width w) override {
    const unsigned width = w.bytes;
    outl(address(offset), kAddressPort);
    const auto port = static_cast<unsigned short>(kDataPort + (offset & 3));
    switch (width) {
      case 1:
        return inb(port);
      case 2:
        return inw(port);
      default:
        return inl(port);
    }
  }
  void write(std::uint32_t offset, Width w, std::uint32_t value) override {
    const unsigned width = w.bytes;
    outl(address(offset), kAddressPort);
    const auto port = static_cast<unsigned short>(kDataPort + (offset & 3));
    switch (width) {
      case 1:
        outb(static_cast<unsigned char>(value), port);
        break;
      case 2:
        outw(static_cast<unsigned short>(value), port);
        break;
      default:
        outl(value, port);
        break;
    }
  }

 private:
  static constexpr unsigned short kAddressPort = 0xCF8;
  static constexpr unsigned short kDataPort = 0xCFC;
  std::uint32_t address(std::uint32_t offset) const {
    return 0x80000000u | bdf_ << 8 | (offset & 0xFCu);
  }
  std::uint32_t bdf_;
};

class EcamConfig final : public ConfigAccess {
 public:
  explicit EcamConfig(std::unique_ptr<MappedRange> page) : page_(std::move(page)) {}

  std::uint32_t read(std::uint32_t offset, Width w) override {
    const unsigned width = w.bytes;
    const std::uint32_t word = page_->read32(offset & ~3u);
    const unsigned shift = 8 * (offset & 3);
    return width == 4 ? word : (word >> shift) & ((1u << (8 * width)) - 1);
  }
  void write(std::uint32_t offset, Width w, std::uint32_t value) override {
    const unsigned width = w.bytes;
    // One access of exactly `width` bytes, as a CPU's MMCONFIG write would be.
    // reinterpret_cast: configuration space mapped from /dev/mem.
    auto* base = static_cast<volatile std::uint8_t*>(page_->data());
    switch (width) {
      case 1:
        base[offset] = static_cast<std::uint8_t>(value);
        break;
      case 2:
        *reinterpret_cast<volatile std::uint16_t*>(base + offset) =
            static_cast<std::uint16_t>(value);
        break;
      default:
        *reinterpret_cast<volatile std::uint32_t*>(base + offset) = value;
        break;
    }
  }

 private:
  std::unique_ptr<MappedRange> page_;
};

// The ECAM base for bus 0 of segment 0, from the ACPI MCFG table.
std::optional<std::uint64_t> mcfg_base() {
  std::ifstream in("/sys/firmware/acpi/tables/MCFG", std::ios::binary);
  std::array<char, 256> table{};
  in.read(table.data(), table.size());
  const auto n = static_cast<std::size_t>(in.gcount());
  // 36-byte ACPI header, 8 reserved bytes, then 16-byte allocations:
  // u64 base, u16 segment, u8 start bus, u8 end bus, u32 reserved.
  constexpr std::size_t kFirst = 44;
  for (std::size_t off = kFirst; off + 16 <= n; off += 16) {
    std::uint64_t base = 0;
    std::uint16_t segment = 0;
    std::memcpy(&base, table.data() + off, sizeof base);
    std::memcpy(&segment, table.data() + off + 8, sizeof segment);
    if (segment == 0) return base;
  }
  return std::nullopt;
}

}  // namespace

std::optional<PciFunction> find_pci(std::uint16_t vendor, std::uint16_t device) {
  DIR* dir = ::opendir("/sys/bus/pci/devices");
  if (dir == nullptr) return std::nullopt;
  std::optional<PciFunction> found;
  while (const dirent* e = ::readdir(dir)) {
    const std::string name = e->d_name;
    const auto bdf = parse_bdf(name);
    if (!bdf) continue;
    const std::string base = "/sys/bus/pci/devices/" + name;
    if (read_hex_file(base + "/vendor") == vendor && read_hex_file(base + "/device") == device) {
      found = PciFunction{name, *bdf};
      break;
    }
  }
  ::closedir(dir);
  return found;
}

std::optional<PciFunction> upstream_bridge(const PciFunction& f) {
  std::array<char, PATH_MAX> real{};
  if (::realpath(f.sysfs().c_str(), real.data()) == nullptr) return std::nullopt;
  std::string path = real.data();
  path = path.substr(0, path.rfind('/'));
  const std::string parent = path.substr(path.rfind('/') + 1);
  const auto bdf = parse_bdf(parent);
  if (!bdf) return std::nullopt;
  return PciFunction{parent, *bdf};
}

std::optional<PhysRange> bar_resource(const PciFunction& f, unsigned bar) {
  std::ifstream in(f.sysfs() + "/resource");
  std::string line;
  for (unsigned i = 0; std::getline(in, line); ++i) {
    if (i != bar) continue;
    unsigned long long start = 0;
    unsigned long long end = 0;
    unsigned long long flags = 0;
    if (std::sscanf(line.c_str(), "%llx %llx %llx", &start, &end, &flags) != 3 || end <= start) {
      return std::nullopt;
    }
    return PhysRange{start, end - start + 1};
  }
  return std::nullopt;
}

std::unique_ptr<ConfigAccess> sysfs_config(const PciFunction& f) {
  const int fd = ::open((f.sysfs() + "/config").c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return nullptr;
  return std::make_unique<SysfsConfig>(fd);
}

std::unique_ptr<ConfigAccess> cf8_config(const PciFunction& f) {
  // ioperm for the 8 ports is enough; iopl(3) is the fallback.
  if (ioperm(0xCF8, 8, 1) != 0 && iopl(3) != 0) return nullptr;
  return std::make_unique<Cf8Config>(f.bdf);
}

std::unique_ptr<ConfigAccess> ecam_config(const PciFunction& f) {
  const auto base = mcfg_base();
  if (!base) {
    errno = ENOENT;
    return nullptr;
  }
  auto page = MappedRange::map("/dev/mem", *base + (std::uint64_t{f.bdf} << 12), kPage);
  if (!page) return nullptr;
  return std::make_unique<EcamConfig>(std::move(page));
}

std::unique_ptr<MappedRange> MappedRange::map(const std::string& path, std::uint64_t offset,
                                              std::uint64_t size) {
  const int fd = ::open(path.c_str(), O_RDWR | O_SYNC | O_CLOEXEC);
  if (fd < 0) return nullptr;
  void* p =
      ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(offset));
  const int err = errno;
  ::close(fd);
  if (p == MAP_FAILED) {
    errno = err;
    return nullptr;
  }
  return std::unique_ptr<MappedRange>(new MappedRange(p, size));
}

MappedRange::~MappedRange() {
  ::munmap(base_, size_);
}

std::uint32_t MappedRange::read32(std::uint64_t offset) const {
  // volatile: one 32-bit load from the device per call.
  return *reinterpret_cast<volatile std::uint32_t*>(static_cast<char*>(base_) + offset);
}

void MappedRange::write32(std::uint64_t offset, std::uint32_t value) const {
  // volatile: one 32-bit store to the device per call.
  *reinterpret_cast<volatile std::uint32_t*>(static_cast<char*>(base_) + offset) = value;
}

void MappedRange::write64(std::uint64_t offset, std::uint64_t value) const {
  // volatile: one 64-bit store to the device per call.
  *reinterpret_cast<volatile std::uint64_t*>(static_cast<char*>(base_) + offset) = value;
}

// Every access reaches the device (or the abort page, or is dropped there).
std::uint32_t PointerRegisters::read(gpu::Reg32 reg) {
  return gpu::bar0_read(bar0_, reg);
}

void PointerRegisters::write(gpu::Reg32 reg, std::uint32_t value) {
  gpu::bar0_write(bar0_, reg, value);
}

}  // namespace hix::lockdown
