/* MRENCLAVE: SHA-256 over 64-byte records, as SGX lays them out
 * (docs/specs/hix-isa.md §6). */
#include <string.h>

#include "measure.h"

static void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; i++) {
    p[i] = (uint8_t)(v >> (8 * i));
  }
}

void hix_measure_ecreate(crypto_hash_sha256_state* st, uint64_t size) {
  uint8_t rec[64] = {'E', 'C', 'R', 'E', 'A', 'T', 'E', 0};

  /* bytes 8..11: SSA frame size, always 0 (no SSA in HIX revision 1) */
  put_u64(rec + 12, size);
  crypto_hash_sha256_init(st);
  crypto_hash_sha256_update(st, rec, sizeof(rec));
}

void hix_measure_eadd(crypto_hash_sha256_state* st, uint64_t offset, uint64_t flags) {
  uint8_t rec[64] = {'E', 'A', 'D', 'D', 0, 0, 0, 0};

  put_u64(rec + 8, offset);
  put_u64(rec + 16, flags);
  crypto_hash_sha256_update(st, rec, sizeof(rec));
}

void hix_measure_eextend(crypto_hash_sha256_state* st, uint64_t offset,
                         const uint8_t chunk[HIX_EEXTEND_CHUNK]) {
  uint8_t rec[64] = {'E', 'E', 'X', 'T', 'E', 'N', 'D', 0};

  put_u64(rec + 8, offset);
  crypto_hash_sha256_update(st, rec, sizeof(rec));
  crypto_hash_sha256_update(st, chunk, HIX_EEXTEND_CHUNK);
}

void hix_measure_final(crypto_hash_sha256_state* st, uint8_t mrenclave[32]) {
  crypto_hash_sha256_final(st, mrenclave);
}
