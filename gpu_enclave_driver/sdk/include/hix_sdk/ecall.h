/* Enclave side of the ecall convention: the table the dispatcher indexes by
 * ecall number (docs/enclave-sdk.md §3). */
#ifndef HIX_SDK_ECALL_H
#define HIX_SDK_ECALL_H

#include <stddef.h>
#include <stdint.h>

#include "hix_sdk/ecall_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An ecall handler works in place on a private copy of the caller's buffer,
 * already inside the enclave; the runtime copies it back to the caller only
 * when the handler returns HIX_ECALL_OK, and wipes it afterwards. */
typedef enum hix_ecall_status (*hix_ecall_fn)(uint8_t* buf, size_t len);

/* Defined by each enclave, normally with HIX_ECALL_TABLE (constant
 * initialisers: addresses of functions and a sizeof). */
extern const hix_ecall_fn hix_ecall_table[]; /* NOLINT(bugprone-dynamic-static-initializers) */
extern const size_t hix_ecall_count;         /* NOLINT(bugprone-dynamic-static-initializers) */

#ifdef __cplusplus
}
#endif

/* HIX_ECALL_TABLE(h0, h1, ...): handler n serves ecall n. */
#define HIX_ECALL_TABLE(...)                            \
  const hix_ecall_fn hix_ecall_table[] = {__VA_ARGS__}; \
  const size_t hix_ecall_count = sizeof(hix_ecall_table) / sizeof(hix_ecall_table[0])

#endif /* HIX_SDK_ECALL_H */
