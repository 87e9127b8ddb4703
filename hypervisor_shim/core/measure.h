/* MRENCLAVE records (docs/specs/hix-isa.md §6), internal to the core. */
#ifndef HIX_MEASURE_H
#define HIX_MEASURE_H

#include "hix_core.h"

#ifdef __cplusplus
extern "C" {
#endif

void hix_measure_ecreate(crypto_hash_sha256_state* st, uint64_t size);
void hix_measure_eadd(crypto_hash_sha256_state* st, uint64_t offset, uint64_t flags);
void hix_measure_eextend(crypto_hash_sha256_state* st, uint64_t offset,
                         const uint8_t chunk[HIX_EEXTEND_CHUNK]);
void hix_measure_final(crypto_hash_sha256_state* st, uint8_t mrenclave[32]);

#ifdef __cplusplus
}
#endif

#endif /* HIX_MEASURE_H */
