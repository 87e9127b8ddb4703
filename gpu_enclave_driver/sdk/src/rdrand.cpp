// libsodium's randombytes on RDRAND: the only entropy an enclave can trust
// (the OS controls every file and syscall). docs/enclave-sdk.md §4.
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hix_sdk/runtime.h"
#include "internal.h"

namespace {

// Intel's guidance: retry ten times; a persistent failure means a broken DRNG.
constexpr int kRdrandRetries = 10;

const char* implementation_name() {
  return "hix-rdrand";
}

uint32_t random_u32() {
  return static_cast<uint32_t>(hix_sdk_rdrand64());
}

void random_buf(void* const buf, const size_t size) {
  auto* out = static_cast<uint8_t*>(buf);
  size_t done = 0;
  while (size - done >= sizeof(uint64_t)) {
    const uint64_t v = hix_sdk_rdrand64();
    memcpy(out + done, &v, sizeof v);
    done += sizeof v;
  }
  if (done < size) {
    uint64_t v = hix_sdk_rdrand64();
    memcpy(out + done, &v, size - done);
    sodium_memzero(&v, sizeof v);
  }
}

// stir/close have nothing to do; uniform uses libsodium's generic rejection
// sampling over random().
randombytes_implementation g_rdrand = {
    implementation_name, random_u32, nullptr, nullptr, random_buf, nullptr,
};

}  // namespace

extern "C" uint64_t hix_sdk_rdrand64(void) {
  for (int i = 0; i < kRdrandRetries; ++i) {
    uint64_t value = 0;
    uint8_t ok = 0;
    // asm: RDRAND (no intrinsic without -mrdrnd); CF=1 means the value is valid.
    asm volatile("rdrand %0\n\tsetc %1" : "=r"(value), "=qm"(ok) : : "cc");
    // All ones with CF=1 is a known failure mode of some DRNGs, not randomness.
    if (ok != 0 && value != ~uint64_t{0}) return value;
  }
  hix_sdk_abort();
}

extern "C" void hix_sdk_install_randombytes(void) {
  if (randombytes_set_implementation(&g_rdrand) != 0) hix_sdk_abort();
}
