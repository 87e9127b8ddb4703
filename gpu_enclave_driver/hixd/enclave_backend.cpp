// The GPU enclave behind hixd (enclave_backend.hpp).
#include "enclave_backend.hpp"

#include <cstring>
#include <vector>

#include "hix/loader/enclave_image.hpp"
#include "hix/loader/gpu_enclave.hpp"
#include "hix/loader/measurement.hpp"

namespace hix::hixd {

std::unique_ptr<EnclaveBackend> EnclaveBackend::create(const std::string& image_path,
                                                       const PciDevice& gpu, std::string& why) {
  auto image = loader::load_enclave_image(image_path);
  if (!image.ok()) {
    why = image_path + ": " + loader::to_string(image.status()) + " " + image.detail();
    return nullptr;
  }
  auto locked = loader::load_gpu_enclave(image.value(), gpu.bdf, gpu.bar0_size);
  if (!locked.ok()) {
    why = image_path + " on " + gpu.name + ": " + loader::to_string(locked.status()) + " " +
          locked.detail();
    return nullptr;
  }
  loader::GpuEnclave g = std::move(locked).value();
  const std::string mrenclave = loader::to_hex(loader::measure_image(image.value()));
  return std::unique_ptr<EnclaveBackend>(
      new EnclaveBackend(std::move(g.enclave), gpu, g.glrange, mrenclave));
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
