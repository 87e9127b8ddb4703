// The hello enclave: the SDK's demonstration and test enclave
// (docs/enclave-sdk.md §7; the ecalls are listed in hello_abi.h).
#include <sodium.h>
#include <string.h>

#include "hello_abi.h"
#include "hix_sdk/ecall.h"
#include "hix_sdk/enclu.h"
#include "hix_sdk/report_ecall.h"

extern "C" [[noreturn]] void hello_fault_with_secrets();

namespace {

constexpr size_t kDigestSize = crypto_generichash_BYTES;  // 32

uint8_t g_hash_key[crypto_generichash_KEYBYTES];
bool g_hash_key_ready = false;

hix_ecall_status keyed_hash(uint8_t* buf, size_t len) {
  if (len < kDigestSize) return HIX_ECALL_BAD_SIZE;
  if (!g_hash_key_ready) {
    randombytes_buf(g_hash_key, sizeof g_hash_key);
    g_hash_key_ready = true;
  }
  uint8_t digest[kDigestSize];
  if (crypto_generichash(digest, sizeof digest, buf + kDigestSize, len - kDigestSize, g_hash_key,
                         sizeof g_hash_key) != 0) {
    return HIX_ECALL_FAILED;
  }
  memcpy(buf, digest, sizeof digest);
  return HIX_ECALL_OK;
}

hix_ecall_status fault(uint8_t* /*buf*/, size_t /*len*/) {
  hello_fault_with_secrets();
}

hix_ecall_status null_ecall(uint8_t* /*buf*/, size_t /*len*/) {
  return HIX_ECALL_OK;
}

hix_ecall_status seal_key_hash(uint8_t* buf, size_t len) {
  hix_keyrequest request;
  memset(&request, 0, sizeof request);
  if (len != sizeof request.id) return HIX_ECALL_BAD_SIZE;
  request.name = HIX_KEY_SEAL;
  memcpy(request.id, buf, sizeof request.id);
  uint8_t key[HIX_KEY_SIZE];
  if (hix_egetkey(&request, key) != HIX_OK) return HIX_ECALL_FAILED;
  // Only a hash leaves: tests compare keys without the key itself leaving.
  const int rc = crypto_generichash(buf, kDigestSize, key, sizeof key, nullptr, 0);
  sodium_memzero(key, sizeof key);
  return rc == 0 ? HIX_ECALL_OK : HIX_ECALL_FAILED;
}

}  // namespace

extern "C" {
HIX_ECALL_TABLE(hix_sdk_ecall_report, keyed_hash, fault, null_ecall, seal_key_hash);
}
