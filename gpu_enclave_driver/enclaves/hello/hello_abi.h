/* The hello enclave's ecalls (docs/enclave-sdk.md §7), shared by the enclave,
 * hix-enclave-run's documentation and the tests. */
#ifndef HIX_ENCLAVES_HELLO_ABI_H
#define HIX_ENCLAVES_HELLO_ABI_H

/* buf = struct hix_report; in: report data in bytes 0..63; out: the report. */
#define HELLO_ECALL_REPORT 0u
/* buf = [32 bytes out][message]: out = BLAKE2b-256 of the message keyed with
 * a 32-byte key the enclave draws from RDRAND on first use. */
#define HELLO_ECALL_KEYED_HASH 1u
/* Loads HELLO_SECRET_PATTERN into every GPR and vector register, then ud2:
 * the enclave aborts. For the "no secret in register state" test. */
#define HELLO_ECALL_FAULT 2u
/* Does nothing (EENTER/EEXIT round trip benchmark). */
#define HELLO_ECALL_NULL 3u
/* buf = 32 bytes: in = key id, out = BLAKE2b-256(EGETKEY(seal, id)). */
#define HELLO_ECALL_SEAL_KEY_HASH 4u

#define HELLO_SECRET_PATTERN 0x5ec2e75ec2e75ec2ull

#endif /* HIX_ENCLAVES_HELLO_ABI_H */
