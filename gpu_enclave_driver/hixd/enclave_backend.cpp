// The GPU enclave behind hixd (enclave_backend.hpp).
#include "enclave_backend.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "hix/loader/enclave_image.hpp"
#include "hix/loader/measurement.hpp"

namespace hix::hixd {
namespace {

// BAR0 goes at the first boundary of its own size above the image's last
// page; the image leaves ELRANGE free from there (the enclave's CMake rule
// keeps room for the 64 KiB GLRANGE).
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

std::unique_ptr<EnclaveBackend> EnclaveBackend::create(const std::string& image_path,
                                                       const PciDevice& gpu, std::string& why) {
  auto image = loader::load_enclave_image(image_path);
  if (!image.ok()) {
    why = image_path + ": " + loader::to_string(image.status()) + " " + image.detail();
    return nullptr;
  }
  const auto offset = glrange_offset(image.value(), gpu.bar0_size);
  if (!offset) {
    why = image_path + " leaves no free " + std::to_string(gpu.bar0_size) +
          " bytes in ELRANGE for BAR0";
    return nullptr;
  }
  auto dev = loader::DevHix::open();
  if (!dev.ok()) {
    why = std::string("/dev/hix: ") + loader::to_string(dev.status()) + " " + dev.detail();
    return nullptr;
  }
  auto loaded = loader::Enclave::load(std::move(dev).value(), image.value());
  if (!loaded.ok()) {
    why = "load " + image_path + ": " + loader::to_string(loaded.status()) + " " + loaded.detail();
    return nullptr;
  }
  loader::Enclave enclave = std::move(loaded).value();
  hix_ioc_glock req{};
  req.bdf = gpu.bdf;
  req.bar_mask = 1u;
  req.offsets[0] = *offset;
  const loader::Outcome o = enclave.glock(req);
  if (!o.ok()) {
    why = "HIX_IOC_GLOCK of " + gpu.name + ": " + o.detail + " (EGLOCK status " +
          std::to_string(req.status) + ")";
    return nullptr;
  }
  const std::uint64_t glrange = enclave.base().value + *offset;
  const std::string mrenclave = loader::to_hex(loader::measure_image(image.value()));
  return std::unique_ptr<EnclaveBackend>(
      new EnclaveBackend(std::move(enclave), gpu, glrange, mrenclave));
}

EntryResult EnclaveBackend::enter(std::uint64_t number, std::span<std::uint8_t> buffer) {
  const loader::EcallResult r = enclave_.ecall(number, buffer);
  if (r.status == loader::Status::enclave_aborted) {
    return {Entry::dead, "enclave_aborted (vector " + std::to_string(r.vector) + ")"};
  }
  if (r.status != loader::Status::ok) {
    return {Entry::dead, std::string(loader::to_string(r.status)) + " (ISA status " +
                             std::to_string(r.isa_status) + ")"};
  }
  if (r.enclave_status != 0) return {Entry::refused, loader::ecall_status_name(r.enclave_status)};
  return {};
}

template <class T>
EntryResult EnclaveBackend::enter_struct(std::uint64_t number, T& io) {
  std::vector<std::uint8_t> buf(sizeof io);
  std::memcpy(buf.data(), &io, sizeof io);
  EntryResult e = enter(number, buf);
  if (e.entry == Entry::ok) std::memcpy(&io, buf.data(), sizeof io);
  return e;
}

EntryResult EnclaveBackend::init(gpu_enclave_init& io) {
  io.bdf = gpu_.bdf;
  io.glrange = glrange_;
  return enter_struct(GPU_ENCLAVE_INIT, io);
}

EntryResult EnclaveBackend::open(gpu_enclave_open& io) {
  return enter_struct(GPU_ENCLAVE_OPEN, io);
}

EntryResult EnclaveBackend::call(std::span<std::uint8_t> buffer) {
  return enter(GPU_ENCLAVE_CALL, buffer);
}

EntryResult EnclaveBackend::drop(gpu_enclave_drop& io) {
  return enter_struct(GPU_ENCLAVE_DROP, io);
}

EntryResult EnclaveBackend::stats(gpu_enclave_stats& out) {
  return enter_struct(GPU_ENCLAVE_STATS, out);
}

}  // namespace hix::hixd
