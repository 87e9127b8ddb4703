// The gpu_owner enclave's host side (gpu_owner_host.hpp).
#include "gpu_owner_host.hpp"

#include <algorithm>
#include <cstring>

#include "attack_common.hpp"
#include "hix/loader/enclave_image.hpp"

namespace hix::lockdown {

namespace {

// BAR0 goes at the first 64 KiB boundary above the image's last page; the
// image leaves ELRANGE free from there (enclave.ld: ELRANGE is the image's
// span rounded up to a power of two).
std::optional<std::uint64_t> glrange_offset(const loader::EnclaveImage& image,
                                            std::uint64_t bar_size) {
  std::uint64_t end = 0;
  for (const loader::Page& p : image.pages) end = std::max(end, p.offset.value + HIX_PAGE_SIZE);
  const std::uint64_t align = std::max<std::uint64_t>(bar_size, HIX_PAGE_SIZE);
  const std::uint64_t offset = (end + align - 1) / align * align;
  if (offset > image.size || image.size - offset < bar_size) return std::nullopt;
  return offset;
}

}  // namespace

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
  const auto offset = glrange_offset(image.value(), bar0->size);
  if (!offset) {
    attacks::fail("%s leaves no free %llu bytes in ELRANGE for the GLRANGE", image_path,
                  static_cast<unsigned long long>(bar0->size));
  }
  auto dev = loader::DevHix::open();
  if (!dev.ok()) attacks::fail("/dev/hix: %s", loader::to_string(dev.status()));
  auto loaded = loader::Enclave::load(std::move(dev).value(), image.value());
  if (!loaded.ok()) {
    attacks::fail("load %s: %s %s", image_path, loader::to_string(loaded.status()),
                  loaded.detail().c_str());
  }
  loader::Enclave enclave = std::move(loaded).value();

  hix_ioc_glock req{};
  req.bdf = gpu.bdf;
  req.bar_mask = 1u;
  req.offsets[0] = *offset;
  const loader::Outcome o = enclave.glock(req);
  if (!o.ok()) {
    attacks::fail("HIX_IOC_GLOCK of %s: %s, EGLOCK status %u", gpu.name.c_str(), o.detail.c_str(),
                  req.status);
  }
  const std::uint64_t glrange = enclave.base().value + *offset;
  return GpuOwner(std::move(enclave), gpu, *bar0, glrange);
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
