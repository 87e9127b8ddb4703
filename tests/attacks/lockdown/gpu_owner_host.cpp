// The gpu_owner enclave's host side (gpu_owner_host.hpp).
#include "gpu_owner_host.hpp"

#include <cstring>

#include "attack_common.hpp"
#include "hix/loader/enclave_image.hpp"
#include "hix/loader/gpu_enclave.hpp"

namespace hix::lockdown {

PciFunction require_hix_gpu() {
  const auto gpu = find_pci(gpu::kVendorId, gpu::kDeviceId);
  if (!gpu) attacks::fail("no hix-gpu (%04x:%04x) in sysfs", gpu::kVendorId, gpu::kDeviceId);
  return *gpu;
}

GpuOwner GpuOwner::lock(const char* image_path) {
  auto image = loader::load_enclave_image(image_path);
  if (!image.ok()) attacks::fail("image %s: %s", image_path, loader::to_string(image.status()));
  const PciFunction gpu = require_hix_gpu();
  const auto bar0 = bar_resource(gpu, 0);
  if (!bar0 || bar0->size != GPU_OWNER_BAR_SIZE) attacks::fail("hix-gpu BAR0 unassigned or sized");
  auto locked = loader::load_gpu_enclave(image.value(), gpu.bdf, bar0->size);
  if (!locked.ok()) {
    attacks::fail("%s on %s: %s %s", image_path, gpu.name.c_str(),
                  loader::to_string(locked.status()), locked.detail().c_str());
  }
  loader::GpuEnclave g = std::move(locked).value();
  return GpuOwner(std::move(g.enclave), gpu, *bar0, g.glrange);
}

OwnerAccess GpuOwner::access(std::uint64_t ecall, gpu::Reg32 reg, std::uint32_t value) {
  gpu_owner_reg_access a{};
  a.glrange = glrange_;
  a.offset = gpu::offset_of(reg).value;
  a.value = value;
  std::array<std::uint8_t, sizeof a> buf{};
  std::memcpy(buf.data(), &a, sizeof a);
  OwnerAccess out;
  out.ecall = enclave_.ecall(ecall, buf);
  if (out.ok()) {
    std::memcpy(&a, buf.data(), sizeof a);
    out.value = a.value;
  }
  return out;
}

std::optional<hix_report> GpuOwner::report(
    std::span<const std::uint8_t, HIX_REPORT_DATA_SIZE> data) {
  std::array<std::uint8_t, sizeof(hix_report)> buf{};
  std::copy(data.begin(), data.end(), buf.begin());
  if (!enclave_.ecall(GPU_OWNER_ECALL_REPORT, buf).succeeded()) return std::nullopt;
  hix_report r{};
  std::memcpy(&r, buf.data(), sizeof r);
  return r;
}

}  // namespace hix::lockdown
