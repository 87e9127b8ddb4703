// The enclave runtime: first-entry set-up and the ecall dispatcher that the
// entry stub calls (docs/enclave-sdk.md §3; docs/specs/hix-isa.md §4).
#include <cpuid.h>
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hix_sdk/ecall.h"
#include "hix_sdk/runtime.h"
#include "internal.h"

namespace {

// What FS.base points at inside the enclave. Only the stack-protector slot
// is used (glibc's x86-64 TCB keeps the canary at %fs:0x28).
struct Tcb {
  uint64_t self;
  uint64_t reserved[4];
  uint64_t stack_guard;
};
static_assert(offsetof(Tcb, stack_guard) == 0x28, "the x86-64 stack-protector slot");

using Constructor = void (*)();

bool g_initialised = false;

constexpr uint32_t kCpuid1EcxOsxsave = 1u << 27;
constexpr uint32_t kCpuid1EcxAvx = 1u << 28;
constexpr uint32_t kCpuid7EbxAvx512f = 1u << 16;
constexpr uint64_t kXcr0Avx = 0x6;      // XMM and YMM state enabled by the OS
constexpr uint64_t kXcr0Avx512 = 0xe0;  // opmask, ZMM0-15 upper halves, ZMM16-31

// Which vector state the exit stub must clear: what the CPU and the OS
// (XCR0) enable decides what enclave code (libsodium's dispatch) may use.
struct VectorState {
  bool avx = false;
  bool avx512 = false;
};

VectorState usable_vector_state() {
  uint32_t eax = 0;
  uint32_t ebx = 0;
  uint32_t ecx = 0;
  uint32_t edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return {};
  if ((ecx & kCpuid1EcxOsxsave) == 0 || (ecx & kCpuid1EcxAvx) == 0) return {};
  uint32_t lo = 0;
  uint32_t hi = 0;
  // asm: XGETBV(0) reads XCR0 (no intrinsic without -mxsave); legal since OSXSAVE is set.
  asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  const uint64_t xcr0 = (static_cast<uint64_t>(hi) << 32) | lo;
  VectorState v;
  v.avx = (xcr0 & kXcr0Avx) == kXcr0Avx;
  if (v.avx && __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) != 0) {
    v.avx512 = (ebx & kCpuid7EbxAvx512f) != 0 && (xcr0 & kXcr0Avx512) == kXcr0Avx512;
  }
  return v;
}

}  // namespace

extern "C" {

extern const Constructor hix_lds_init_array_start[];
extern const Constructor hix_lds_init_array_end[];

// Read by the entry stub (entry.S).
alignas(64) Tcb hix_sdk_tcb;
uint8_t hix_sdk_avx_usable;
uint8_t hix_sdk_avx512_usable;

// Every image carries it (HIX_SDK_IMAGE_TAG_SYMBOL): a byte that tests may flip.
__attribute__((used, section(".data.hix_image_tag"))) char hix_image_tag[32] =
    "OpenHIX enclave image";

uint64_t hix_sdk_dispatch(uint64_t number, uint64_t buffer, uint64_t size);

}  // extern "C"

namespace {

// Runs once, on the first EENTER, before any libsodium code: the canary must
// be random before a stack-protected function runs, and randombytes must be
// RDRAND before sodium_init() draws from it.
void initialise() {
  // reinterpret_cast: the TCB's self pointer is an address by definition.
  hix_sdk_tcb.self = reinterpret_cast<uint64_t>(&hix_sdk_tcb);
  // A zero low byte stops string overruns from copying past the canary.
  hix_sdk_tcb.stack_guard = hix_sdk_rdrand64() & ~uint64_t{0xff};
  const VectorState vector = usable_vector_state();
  hix_sdk_avx_usable = vector.avx ? 1 : 0;
  hix_sdk_avx512_usable = vector.avx512 ? 1 : 0;
  hix_sdk_install_randombytes();
  if (sodium_init() < 0) hix_sdk_abort();
  for (const Constructor* c = hix_lds_init_array_start; c != hix_lds_init_array_end; ++c) {
    (*c)();
  }
  g_initialised = true;
}

}  // namespace

// The register ABI entry.S calls with (RDI, RSI, RDX): raw by necessity.
// NOLINTNEXTLINE(bugprone-easily-swappable-parameters)
extern "C" uint64_t hix_sdk_dispatch(uint64_t number, uint64_t buffer, uint64_t size) {
  if (!g_initialised) initialise();
  if (number >= hix_ecall_count) return HIX_ECALL_UNKNOWN;
  if (size > HIX_ECALL_MAX_BUFFER) return HIX_ECALL_NO_MEMORY;
  if (size != 0 && (buffer == 0 || hix_sdk_outside_enclave(buffer, size) == 0)) {
    return HIX_ECALL_BAD_BUFFER;
  }
  // reinterpret_cast: RSI carries the caller's buffer as a linear address.
  auto* untrusted = reinterpret_cast<uint8_t*>(buffer);  // NOLINT(performance-no-int-to-ptr)
  // Copy in once: the host may change its buffer while we run.
  uint8_t* copy = nullptr;
  if (size != 0) {
    copy = static_cast<uint8_t*>(malloc(size));
    if (copy == nullptr) return HIX_ECALL_NO_MEMORY;
    memcpy(copy, untrusted, size);
  }
  const hix_ecall_status status = hix_ecall_table[number](copy, size);
  if (copy != nullptr) {
    if (status == HIX_ECALL_OK) memcpy(untrusted, copy, size);
    sodium_memzero(copy, size);
    free(copy);
  }
  return status;
}

extern "C" uint64_t hix_sdk_elrange_base(void) {
  // reinterpret_cast: a linker-script symbol's address is its value.
  return reinterpret_cast<uint64_t>(hix_lds_base);
}

extern "C" uint64_t hix_sdk_elrange_size(void) {
  return hix_lds_elrange_size_word;
}

extern "C" int hix_sdk_outside_enclave(uint64_t addr, uint64_t len) {
  if (len == 0) return 1;
  const uint64_t end = addr + len;
  if (end < addr) return 0;
  const uint64_t base = hix_sdk_elrange_base();
  const uint64_t limit = base + hix_sdk_elrange_size();
  return (end <= base || addr >= limit) ? 1 : 0;
}

extern "C" int hix_sdk_inside_enclave(uint64_t addr, uint64_t len) {
  const uint64_t end = addr + len;
  if (end < addr) return 0;
  const uint64_t base = hix_sdk_elrange_base();
  return (addr >= base && end <= base + hix_sdk_elrange_size()) ? 1 : 0;
}

extern "C" int hix_sdk_avx_enabled(void) {
  return hix_sdk_avx_usable;
}
