// The gpu_owner enclave (gpu_owner_abi.h): reads and writes hix-gpu registers
// through its GLRANGE, the only path a locked device accepts (spec §13).
#include <stdint.h>
#include <string.h>

#include "gpu_owner_abi.h"
#include "hix_sdk/ecall.h"
#include "hix_sdk/report_ecall.h"
#include "hix_sdk/runtime.h"

// The end of the image as linked (enclave.ld): ELRANGE above it holds no
// page, which is where a GLRANGE may lie.
extern "C" const uint8_t hix_lds_image_end[];  // NOLINT(bugprone-dynamic-static-initializers)

namespace {

// The register's linear address, or 0 when the request does not name a
// register of BAR0 mapped in the unpopulated part of ELRANGE. The enclave
// never lets its host aim it at its own pages.
uint64_t register_address(const gpu_owner_reg_access& a) {
  // reinterpret_cast: the linker symbol's address is the image end.
  const uint64_t image_end = reinterpret_cast<uintptr_t>(hix_lds_image_end);
  if ((a.glrange & 0xFFFu) != 0 || (a.offset & 3u) != 0 || a.offset >= GPU_OWNER_BAR_SIZE) {
    return 0;
  }
  if (a.glrange < image_end || !hix_sdk_inside_enclave(a.glrange, GPU_OWNER_BAR_SIZE)) return 0;
  return a.glrange + a.offset;
}

// volatile: each call is exactly one 32-bit device access, never merged or
// elided (the device refuses any other width).
volatile uint32_t* reg(uint64_t address) {
  // reinterpret_cast: a register's linear address inside the GLRANGE.
  return reinterpret_cast<volatile uint32_t*>(address);  // NOLINT(performance-no-int-to-ptr)
}

hix_ecall_status write_reg(uint8_t* buf, size_t len) {
  gpu_owner_reg_access a;
  if (len != sizeof a) return HIX_ECALL_BAD_SIZE;
  memcpy(&a, buf, sizeof a);
  const uint64_t address = register_address(a);
  if (address == 0) return HIX_ECALL_FAILED;
  *reg(address) = a.value;
  return HIX_ECALL_OK;
}

hix_ecall_status read_reg(uint8_t* buf, size_t len) {
  gpu_owner_reg_access a;
  if (len != sizeof a) return HIX_ECALL_BAD_SIZE;
  memcpy(&a, buf, sizeof a);
  const uint64_t address = register_address(a);
  if (address == 0) return HIX_ECALL_FAILED;
  a.value = *reg(address);
  memcpy(buf, &a, sizeof a);
  return HIX_ECALL_OK;
}

}  // namespace

extern "C" {
HIX_ECALL_TABLE(hix_sdk_ecall_report, write_reg, read_reg);
}
