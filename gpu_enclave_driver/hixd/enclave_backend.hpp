// The GPU enclave as hixd's backend (docs/specs/hix-session.md §9): loaded
// from its image through /dev/hix, the hix-gpu locked to it with
// HIX_IOC_GLOCK (BAR0 at a GLRANGE in the free part of its ELRANGE, as
// tests/attacks/lockdown/gpu_owner_host.cpp does), then entered for every
// operation. An ecall that aborts or cannot enter means the enclave is dead;
// destroying the object closes /dev/hix, which destroys the enclave and
// with it the lock (the device is scrubbed).
#pragma once

#include <memory>
#include <string>

#include "backend.hpp"
#include "hix/loader/enclave.hpp"
#include "pci_sysfs.hpp"

namespace hix::hixd {

class EnclaveBackend final : public Backend {
 public:
  static std::unique_ptr<EnclaveBackend> create(const std::string& image_path, const PciDevice& gpu,
                                                std::string& why);

  bool plain() const override { return false; }
  std::string identity() const override { return "mrenclave=" + mrenclave_; }
  EntryResult init(gpu_enclave_init& io) override;
  EntryResult open(gpu_enclave_open& io) override;
  EntryResult call(std::span<std::uint8_t> buffer) override;
  EntryResult drop(gpu_enclave_drop& io) override;
  EntryResult stats(gpu_enclave_stats& out) override;

 private:
  EnclaveBackend(loader::Enclave enclave, PciDevice gpu, std::uint64_t glrange,
                 std::string mrenclave)
      : enclave_(std::move(enclave)),
        gpu_(std::move(gpu)),
        glrange_(glrange),
        mrenclave_(std::move(mrenclave)) {}
  EntryResult enter(std::uint64_t number, std::span<std::uint8_t> buffer);
  template <class T>
  EntryResult enter_struct(std::uint64_t number, T& io);

  loader::Enclave enclave_;
  PciDevice gpu_;
  std::uint64_t glrange_;
  std::string mrenclave_;
};

}  // namespace hix::hixd
