// A GPU enclave: load and lock (gpu_enclave.hpp).
#include "hix/loader/gpu_enclave.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "hix/loader/driver.hpp"

namespace hix::loader {

std::optional<std::uint64_t> glrange_offset(const EnclaveImage& image, std::uint64_t bar0_size) {
  std::uint64_t end = 0;
  for (const Page& p : image.pages) end = std::max(end, p.offset.value + HIX_PAGE_SIZE);
  const std::uint64_t align = std::max<std::uint64_t>(bar0_size, HIX_PAGE_SIZE);
  const std::uint64_t offset = (end + align - 1) / align * align;
  if (offset > image.size || image.size - offset < bar0_size) return std::nullopt;
  return offset;
}

Result<GpuEnclave> load_gpu_enclave(const EnclaveImage& image, std::uint32_t bdf,
                                    std::uint64_t bar0_size) {
  const auto offset = glrange_offset(image, bar0_size);
  if (!offset) {
    return {Status::bad_layout,
            "no free " + std::to_string(bar0_size) + " bytes in ELRANGE for BAR0's GLRANGE"};
  }
  auto dev = DevHix::open();
  if (!dev.ok()) return {dev.status(), "/dev/hix: " + dev.detail()};
  auto loaded = Enclave::load(std::move(dev).value(), image);
  if (!loaded.ok()) return {loaded.status(), loaded.detail()};
  Enclave enclave = std::move(loaded).value();
  hix_ioc_glock req{};
  req.bdf = bdf;
  req.bar_mask = 1u;
  req.offsets[0] = *offset;
  if (const Outcome o = enclave.glock(req); !o.ok()) {
    return {Status::lock_failed,
            "HIX_IOC_GLOCK: " + o.detail + " (EGLOCK status " + std::to_string(req.status) + ")"};
  }
  const std::uint64_t glrange = enclave.base().value + *offset;
  return GpuEnclave{std::move(enclave), glrange};
}

}  // namespace hix::loader
