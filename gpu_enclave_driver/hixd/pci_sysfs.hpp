// The hix-gpu as hixd finds it in the guest's sysfs (docs/specs/hix-gpu.md
// §1): its BDF and BAR0 size (for HIX_IOC_GLOCK in protected mode), and, in
// plain mode only, BAR0 mapped through /sys/bus/pci/devices/BDF/resource0 as
// the session core's Mmio (docs/specs/hix-session.md §10).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "hix/session/mmio.hpp"

namespace hix::hixd {

struct PciDevice {
  std::string name;       // "0000:00:03.0"
  std::uint32_t bdf = 0;  // bus << 8 | device << 3 | function
  std::uint64_t bar0_size = 0;
  std::string sysfs() const { return "/sys/bus/pci/devices/" + name; }
};

// The first function with the hix-gpu's vendor and device id, whose BAR0
// the kernel assigned; nullopt and `why` otherwise.
std::optional<PciDevice> find_hix_gpu(std::string& why);

// BAR0 mapped from sysfs resource0: every access one aligned 32-bit load or
// store.
class SysfsBar0 final : public session::Mmio {
 public:
  static std::unique_ptr<SysfsBar0> map(const PciDevice& dev, std::string& why);
  ~SysfsBar0() override;
  SysfsBar0(const SysfsBar0&) = delete;
  SysfsBar0& operator=(const SysfsBar0&) = delete;

  std::uint32_t read32(gpu::Reg32 reg) override;
  void write32(gpu::Reg32 reg, std::uint32_t value) override;

 private:
  SysfsBar0(void* base, std::uint64_t size) : base_(base), size_(size) {}
  void* base_;
  std::uint64_t size_;
};

}  // namespace hix::hixd
