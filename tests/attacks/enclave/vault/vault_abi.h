/* The vault enclave: the attack suite's target. It keeps a caller-chosen
 * 64-byte secret in a page of its own, so attackers know what a leak looks
 * like. */
#ifndef HIX_ATTACKS_VAULT_ABI_H
#define HIX_ATTACKS_VAULT_ABI_H

#define VAULT_SECRET_SIZE 64u
/* buf = the secret (in) */
#define VAULT_ECALL_STORE 0u
/* buf = the secret (out) */
#define VAULT_ECALL_LOAD 1u
/* buf = 8 bytes: the linear address of the vault page (out) */
#define VAULT_ECALL_ADDRESS 2u

#endif /* HIX_ATTACKS_VAULT_ABI_H */
