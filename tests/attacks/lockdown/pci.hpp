// PCI as a root attacker in the guest sees it (docs/architecture.md §3):
// functions found in sysfs, configuration space through sysfs, CF8/CFC port
// I/O and ECAM (MMCONFIG through /dev/mem), and BAR0 through a mapping or
// ioremap.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "hix/gpu/register_io.hpp"

namespace hix::lockdown {

// One PCI function of segment 0.
struct PciFunction {
  std::string name;       // sysfs name, "0000:01:00.0"
  std::uint32_t bdf = 0;  // bus << 8 | device << 3 | function (spec §12)
  std::string sysfs() const { return "/sys/bus/pci/devices/" + name; }
  unsigned bus() const { return bdf >> 8; }
  unsigned device() const { return (bdf >> 3) & 0x1F; }
  unsigned function() const { return bdf & 7; }
};

// A memory range, guest-physical.
struct PhysRange {
  std::uint64_t base = 0;
  std::uint64_t size = 0;
};

// The first function with this vendor and device id.
std::optional<PciFunction> find_pci(std::uint16_t vendor, std::uint16_t device);
// The bridge whose secondary bus holds `f` (its parent in sysfs).
std::optional<PciFunction> upstream_bridge(const PciFunction& f);
// BAR `bar` as the kernel assigned it (sysfs "resource").
std::optional<PhysRange> bar_resource(const PciFunction& f, unsigned bar);

// The size of one configuration access in bytes: 1, 2 or 4.
struct Width {
  unsigned bytes;
};

// Configuration registers at byte offsets.
class ConfigAccess {
 public:
  virtual ~ConfigAccess() = default;
  virtual std::uint32_t read(std::uint32_t offset, Width w) = 0;
  virtual void write(std::uint32_t offset, Width w, std::uint32_t value) = 0;
};

// /sys/bus/pci/devices/BDF/config, pread/pwrite (what setpci does).
std::unique_ptr<ConfigAccess> sysfs_config(const PciFunction& f);
// Configuration mechanism #1: ports 0xCF8/0xCFC, after ioperm/iopl.
std::unique_ptr<ConfigAccess> cf8_config(const PciFunction& f);
// ECAM: the MCFG table's base, the function's 4 KiB mapped from /dev/mem
// (the kernel must allow it: boot with iomem=relaxed).
std::unique_ptr<ConfigAccess> ecam_config(const PciFunction& f);

// A 4 KiB-aligned range of a file (sysfs resourceN, /dev/mem) mapped
// read/write and accessed 32 bits at a time.
class MappedRange {
 public:
  // nullptr with errno set when it cannot be opened or mapped.
  static std::unique_ptr<MappedRange> map(const std::string& path, std::uint64_t offset,
                                          std::uint64_t size);
  ~MappedRange();
  MappedRange(const MappedRange&) = delete;
  MappedRange& operator=(const MappedRange&) = delete;

  std::uint32_t read32(std::uint64_t offset) const;
  void write32(std::uint64_t offset, std::uint32_t value) const;
  void write64(std::uint64_t offset, std::uint64_t value) const;
  void* data() const { return base_; }

 private:
  MappedRange(void* base, std::uint64_t size) : base_(base), size_(size) {}
  void* base_;
  std::uint64_t size_;
};

// BAR0 registers through a pointer to a mapping of it (sysfs resource0,
// /dev/mem or libpciaccess).
class PointerRegisters final : public gpu::RegisterIo {
 public:
  explicit PointerRegisters(void* bar0) : bar0_(bar0) {}
  std::uint32_t read(gpu::Reg32 reg) override;
  void write(gpu::Reg32 reg, std::uint32_t value) override;

 private:
  void* bar0_;
};

}  // namespace hix::lockdown
