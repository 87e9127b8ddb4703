/* Internal interfaces of the enclave runtime (not for enclave code). */
#ifndef HIX_SDK_INTERNAL_H
#define HIX_SDK_INTERNAL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One RDRAND value; kills the enclave when RDRAND keeps failing. */
uint64_t hix_sdk_rdrand64(void);

/* Points libsodium's randombytes at RDRAND (before sodium_init). */
void hix_sdk_install_randombytes(void);

/* Linker-script symbols (enclave.ld): only their addresses carry meaning,
 * except the size word, which the script writes as data. Declarations only,
 * so no initialiser runs (the NOLINTs below say that to clang-tidy). */
extern const uint8_t hix_lds_base[];             /* NOLINT(bugprone-dynamic-static-initializers) */
extern const uint64_t hix_lds_elrange_size_word; /* NOLINT(bugprone-dynamic-static-initializers) */
extern uint8_t hix_lds_heap_start[];             /* NOLINT(bugprone-dynamic-static-initializers) */
extern uint8_t hix_lds_heap_end[];               /* NOLINT(bugprone-dynamic-static-initializers) */

#ifdef __cplusplus
}
#endif

#endif /* HIX_SDK_INTERNAL_H */
