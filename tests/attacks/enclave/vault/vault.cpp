// The vault enclave (vault_abi.h): holds one secret in its own EPC page.
#include <stdint.h>
#include <string.h>

#include "hix_sdk/ecall.h"
#include "vault_abi.h"

namespace {

// A page of its own, so an attacker can aim at exactly this page.
alignas(4096) uint8_t g_vault[4096];

hix_ecall_status store(uint8_t* buf, size_t len) {
  if (len != VAULT_SECRET_SIZE) return HIX_ECALL_BAD_SIZE;
  memcpy(g_vault, buf, VAULT_SECRET_SIZE);
  return HIX_ECALL_OK;
}

hix_ecall_status load(uint8_t* buf, size_t len) {
  if (len != VAULT_SECRET_SIZE) return HIX_ECALL_BAD_SIZE;
  memcpy(buf, g_vault, VAULT_SECRET_SIZE);
  return HIX_ECALL_OK;
}

hix_ecall_status address(uint8_t* buf, size_t len) {
  if (len != sizeof(uint64_t)) return HIX_ECALL_BAD_SIZE;
  // reinterpret_cast: the enclave tells its host where the page lives.
  const uint64_t a = reinterpret_cast<uintptr_t>(g_vault);
  memcpy(buf, &a, sizeof a);
  return HIX_ECALL_OK;
}

}  // namespace

extern "C" {
HIX_ECALL_TABLE(store, load, address);
}
