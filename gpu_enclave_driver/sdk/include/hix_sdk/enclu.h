/* ENCLU leaves available inside an enclave (docs/specs/hix-isa.md §2.2). */
#ifndef HIX_SDK_ENCLU_H
#define HIX_SDK_ENCLU_H

#include <stdint.h>

#include "hix/abi/hix_isa.h"

#ifdef __cplusplus
extern "C" {
#endif

/* EREPORT: `report_data` (64 bytes) and `out` must lie in enclave memory.
 * Returns the ISA status (RAX); `out` is valid only when it is HIX_OK. */
enum hix_status hix_ereport(const uint8_t report_data[HIX_REPORT_DATA_SIZE],
                            struct hix_report* out);

/* EGETKEY: `request` and `key` must lie in enclave memory. Returns the ISA
 * status; `key` is valid only when it is HIX_OK. */
enum hix_status hix_egetkey(const struct hix_keyrequest* request, uint8_t key[HIX_KEY_SIZE]);

#ifdef __cplusplus
}
#endif

#endif /* HIX_SDK_ENCLU_H */
