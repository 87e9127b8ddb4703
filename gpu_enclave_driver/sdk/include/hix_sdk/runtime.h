/* The enclave runtime's services: ELRANGE bounds, fail-closed abort, the
 * untrusted-buffer check (docs/enclave-sdk.md). */
#ifndef HIX_SDK_RUNTIME_H
#define HIX_SDK_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Kills the enclave: ud2 raises #UD, which the platform turns into an
 * abort (registers scrubbed, enclave dead, spec §3). Never returns. */
__attribute__((noreturn)) void hix_sdk_abort(void);

/* ELRANGE as linked: [base, base + size). */
uint64_t hix_sdk_elrange_base(void);
uint64_t hix_sdk_elrange_size(void);

/* 1 when [addr, addr + len) neither wraps nor touches ELRANGE (so it is
 * untrusted memory the enclave may copy from or to), else 0. len 0 is
 * always outside. */
int hix_sdk_outside_enclave(uint64_t addr, uint64_t len);

/* 1 when [addr, addr + len) lies entirely inside ELRANGE. */
int hix_sdk_inside_enclave(uint64_t addr, uint64_t len);

/* 1 when the runtime found AVX usable (it then clears YMM state on exit). */
int hix_sdk_avx_enabled(void);

#ifdef __cplusplus
}
#endif

#endif /* HIX_SDK_RUNTIME_H */
