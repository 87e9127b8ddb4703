/* The gpu_owner enclave: the lockdown attack suite's GPU enclave. It owns the
 * hix-gpu once its host has locked the device to it (HIX_IOC_GLOCK) and
 * reaches BAR0 only through its GLRANGE, a range of its ELRANGE the image
 * leaves unpopulated (docs/specs/hix-isa.md §12, §13). */
#ifndef HIX_ATTACKS_GPU_OWNER_ABI_H
#define HIX_ATTACKS_GPU_OWNER_ABI_H

#include <stdint.h>

/* One 32-bit BAR0 register access through the GLRANGE. `glrange` is the
 * linear base where BAR0 is mapped, `offset` the register's BAR offset
 * (4-byte aligned, inside BAR0). `value`: in for a write, out for a read. */
struct gpu_owner_reg_access {
  uint64_t glrange;
  uint32_t offset;
  uint32_t value;
};

/* buf = struct hix_report: the SDK's report ecall (hix_sdk_ecall_report). */
#define GPU_OWNER_ECALL_REPORT 0u
/* buf = struct gpu_owner_reg_access (in) */
#define GPU_OWNER_ECALL_WRITE_REG 1u
/* buf = struct gpu_owner_reg_access (in; value out) */
#define GPU_OWNER_ECALL_READ_REG 2u

/* The BAR0 span the enclave accepts: hix-gpu's register file. */
#define GPU_OWNER_BAR_SIZE 0x10000u

#ifdef __cplusplus
static_assert(sizeof(struct gpu_owner_reg_access) == 16, "wire layout");
#else
_Static_assert(sizeof(struct gpu_owner_reg_access) == 16, "wire layout");
#endif

#endif /* HIX_ATTACKS_GPU_OWNER_ABI_H */
