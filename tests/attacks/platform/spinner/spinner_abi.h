/* The spinner enclave: runs until its untrusted host tells it to stop,
 * counting in untrusted memory as it goes, so another CPU can watch it run
 * (the INIT attack, docs/specs/hix-isa.md §16.6). */
#ifndef HIX_ATTACKS_SPINNER_ABI_H
#define HIX_ATTACKS_SPINNER_ABI_H

#include <stdint.h>

/* Untrusted memory shared by the host's processes and the enclave. */
struct spinner_shared {
  uint64_t counter; /* enclave: incremented on every round */
  uint64_t stop;    /* host: nonzero ends the loop */
  uint64_t done;    /* enclave: 1 once the loop ended, just before EEXIT */
  uint64_t reserved;
};

/* buf = 8 bytes: the linear address of a struct spinner_shared (in). */
#define SPINNER_ECALL_SPIN 0u

#endif /* HIX_ATTACKS_SPINNER_ABI_H */
