// The spinner enclave (spinner_abi.h): counts in untrusted memory until told
// to stop. Data accesses outside ELRANGE reach ordinary memory (spec §5).
#include <stdint.h>
#include <string.h>

#include "hix_sdk/ecall.h"
#include "spinner_abi.h"

namespace {

hix_ecall_status spin(uint8_t* buf, size_t len) {
  if (len != sizeof(uint64_t)) return HIX_ECALL_BAD_SIZE;
  uint64_t addr = 0;
  memcpy(&addr, buf, sizeof addr);
  // volatile: every round must read the host's flag and publish the count.
  // reinterpret_cast: the host passes its shared page as an integer address.
  auto* shared =
      reinterpret_cast<volatile spinner_shared*>(addr);  // NOLINT(performance-no-int-to-ptr)
  while (shared->stop == 0) shared->counter = shared->counter + 1;
  shared->done = 1;
  return HIX_ECALL_OK;
}

}  // namespace

extern "C" {
HIX_ECALL_TABLE(spin);
}
