// An in-process stand-in for the HIX platform (the QEMU shim's ENCLU and
// hix.ko's /dev/hix), so that host tests can load and run real SDK enclave
// images: the hello enclave's code, the SDK's entry/exit stub, its libc and
// libsodium run natively in the test process.
//
// - The driver side (EnclaveDriver) keeps ELRANGE as an anonymous mapping at
//   the enclave's own addresses, applies the EPCM permissions with mprotect
//   at EINIT, and measures with its own implementation of spec §6.
// - ENCLU is emulated in a SIGILL/SIGSEGV handler: the host CPU raises #UD
//   (or #GP where SGX exists) for 0F 01 D7. EENTER/EEXIT switch RIP, RSP,
//   RBP and FS.base as spec §2.2 says; EREPORT signs with a platform key
//   made for the test; EGETKEY derives the seal key as spec §2.2/§7 say; any
//   other fault inside the enclave is an abort as spec §3 says.
//
// It models the ISA's interface, not its protection: the test process can
// still read enclave memory. Isolation is the shim's job and is tested in
// the VM. One FakePlatform at a time, single-threaded; needs FSGSBASE
// enabled by the kernel (the SDK's entry stub uses WRFSBASE) and RDRAND.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hix/abi/hix_isa.h"
#include "hix/loader/driver.hpp"

namespace hix::test {

struct AddPagesCall {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::uint64_t flags = 0;
  std::uint32_t options = 0;
};

struct FakeEnclaveState;

class FakePlatform {
 public:
  FakePlatform();
  ~FakePlatform();
  FakePlatform(const FakePlatform&) = delete;
  FakePlatform& operator=(const FakePlatform&) = delete;

  // Empty when this host can run enclaves natively, else why not.
  static std::string unsupported_reason();

  // A driver for one new enclave (like one open file of /dev/hix).
  std::unique_ptr<loader::EnclaveDriver> open();

  const std::array<std::uint8_t, 32>& public_key() const { return public_key_; }

  // enforce=off: reports carry HIX_ATTR_UNENFORCED (spec §1).
  void set_enforce(bool on) { enforce_ = on; }
  // Control for the register tests: an abort that leaves the registers as
  // the enclave had them (what a broken platform would do).
  void set_scrub_on_abort(bool on) { scrub_on_abort_ = on; }

  // What the most recently initialised enclave measured to (its EINIT).
  std::array<std::uint8_t, 32> last_mrenclave() const { return last_mrenclave_; }
  // The ADD_PAGES calls the driver saw, in order, for the most recent enclave.
  const std::vector<AddPagesCall>& add_pages_calls() const { return add_calls_; }

 private:
  friend class FakeDriver;
  friend struct PlatformAccess;

  std::array<std::uint8_t, 64> secret_key_{};
  std::array<std::uint8_t, 32> public_key_{};
  std::array<std::uint8_t, 32> seal_root_{};
  bool enforce_ = true;
  bool scrub_on_abort_ = true;
  std::array<std::uint8_t, 32> last_mrenclave_{};
  std::vector<AddPagesCall> add_calls_;
  std::vector<std::uint8_t> alt_stack_;
};

}  // namespace hix::test
