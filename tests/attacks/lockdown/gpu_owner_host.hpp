// The host side of the gpu_owner enclave: load it, lock the hix-gpu to it
// with HIX_IOC_GLOCK (BAR0 at a GLRANGE in the image's unpopulated part of
// ELRANGE), and reach BAR0's registers through its ecalls.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "gpu_owner/gpu_owner_abi.h"
#include "hix/abi/hix_isa.h"
#include "hix/gpu/regs.hpp"
#include "hix/loader/enclave.hpp"
#include "pci.hpp"

namespace hix::lockdown {

inline constexpr const char* kGpuOwnerImage = "/usr/share/openhix/enclaves/gpu_owner.elf";

// The result of one register access through the enclave.
struct OwnerAccess {
  loader::EcallResult ecall;
  std::uint32_t value = 0;  // the register's value, for a read that succeeded
  bool ok() const { return ecall.succeeded(); }
};

class GpuOwner {
 public:
  // Loads the image, finds the hix-gpu and locks it. Setup failures end the
  // process (exit 2, like the enclave attackers' fail()).
  static GpuOwner lock(const char* image_path = kGpuOwnerImage);

  OwnerAccess read(gpu::Reg32 reg) { return access(GPU_OWNER_ECALL_READ_REG, reg, 0); }
  OwnerAccess write(gpu::Reg32 reg, std::uint32_t value) {
    return access(GPU_OWNER_ECALL_WRITE_REG, reg, value);
  }
  // EREPORT with `data` as report data; nullopt when the ecall failed.
  std::optional<hix_report> report(std::span<const std::uint8_t, HIX_REPORT_DATA_SIZE> data);

  const PciFunction& gpu() const { return gpu_; }
  const PhysRange& bar0() const { return bar0_; }
  std::uint64_t glrange() const { return glrange_; }
  std::uint64_t elrange_base() const { return enclave_.base().value; }
  std::uint64_t elrange_size() const { return enclave_.size(); }
  loader::Enclave& enclave() { return enclave_; }

 private:
  GpuOwner(loader::Enclave enclave, PciFunction gpu, PhysRange bar0, std::uint64_t glrange)
      : enclave_(std::move(enclave)), gpu_(std::move(gpu)), bar0_(bar0), glrange_(glrange) {}
  OwnerAccess access(std::uint64_t ecall, gpu::Reg32 reg, std::uint32_t value);

  loader::Enclave enclave_;
  PciFunction gpu_;
  PhysRange bar0_;
  std::uint64_t glrange_;
};

// The hix-gpu, or the process ends (exit 2).
PciFunction require_hix_gpu();

}  // namespace hix::lockdown
