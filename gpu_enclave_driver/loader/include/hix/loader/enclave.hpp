// A loaded enclave: create, add and measure every page, init, map ELRANGE,
// then ecalls through the EENTER trampoline (docs/enclave-sdk.md §5).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "hix/loader/driver.hpp"
#include "hix/loader/eenter.h"
#include "hix/loader/enclave_image.hpp"
#include "hix/loader/status.hpp"

namespace hix::loader {

// What an ecall ended with, and the registers found when control came back.
struct EcallResult {
  Status status = Status::ok;        // ok, enter_failed or enclave_aborted
  std::uint64_t enclave_status = 0;  // RDI after EEXIT (hix_ecall_status)
  std::uint64_t isa_status = 0;      // RAX: EENTER's refusal or HIX_ERR_ENCLAVE_ABORTED
  std::uint64_t vector = 0;          // RBX at the AEP: the exception that aborted it
  hix_loader_call registers{};       // the full capture (gpr, fxsave, ymm_high)

  // The ecall ran and its handler returned HIX_ECALL_OK.
  bool succeeded() const { return status == Status::ok && enclave_status == 0; }
};

// Names of the registers that should be clear but are not, after an EEXIT
// through the SDK's exit stub (everything but RAX, RBX, RDI and the RBP the
// platform restores) or an abort (everything but RAX, RBX and the restored
// RBP): GPRs, x87/MMX, XMM, YMM upper halves (when captured), MXCSR status
// flags. Empty means nothing leaked. Defined for ok and enclave_aborted.
std::vector<std::string> unscrubbed_registers(const EcallResult& r);

// Lower-case name of an hix_ecall_status value ("ok", "unknown", ...).
std::string ecall_status_name(std::uint64_t status);

class Enclave {
 public:
  // Loads `image` through `driver`: HIX_IOC_INFO (refuses a platform without
  // EENTER/EEXIT/EREPORT), CREATE, ADD_PAGES with MEASURE for every page in
  // ascending order (one call per run of same-flag pages), INIT, map.
  static Result<Enclave> load(std::unique_ptr<EnclaveDriver> driver, const EnclaveImage& image);

  // One ecall on the first TCS. `buffer` is the untrusted in/out buffer.
  EcallResult ecall(std::uint64_t number, std::span<std::uint8_t> buffer);

  // HIX_IOC_GLOCK through this enclave's driver: lock a device to this
  // enclave, its BARs mapped at ELRANGE offsets (spec §11, §12).
  Outcome glock(hix_ioc_glock& request) { return driver_->glock(request); }

  LinearAddress base() const { return base_; }
  std::uint64_t size() const { return size_; }
  LinearAddress tcs() const { return tcs_; }

 private:
  Enclave(std::unique_ptr<EnclaveDriver> driver, LinearAddress base, std::uint64_t size,
          LinearAddress tcs);

  std::unique_ptr<EnclaveDriver> driver_;
  LinearAddress base_;
  std::uint64_t size_ = 0;
  LinearAddress tcs_;
  bool capture_ymm_ = false;
};

// True when this CPU and OS have AVX state (the trampoline can read YMM).
bool host_has_avx();

}  // namespace hix::loader
