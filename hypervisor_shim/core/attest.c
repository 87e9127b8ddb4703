/* EREPORT and EGETKEY (docs/specs/hix-isa.md §7): reports signed with the
 * platform's Ed25519 key, sealing keys bound to MRENCLAVE. */
#include <string.h>

#include "hix_core.h"

void hix_ereport(const struct hix_core* core, int enclave,
                 const uint8_t report_data[HIX_REPORT_DATA_SIZE], struct hix_report* out) {
  const struct hix_enclave* e = &core->enclaves[enclave];

  memset(out, 0, sizeof(*out));
  out->version = HIX_REPORT_VERSION;
  out->isa_version = HIX_ISA_VERSION;
  out->attributes = e->attributes | (core->enforce ? 0 : HIX_ATTR_UNENFORCED);
  memcpy(out->mrenclave, e->mrenclave, sizeof(out->mrenclave));
  memcpy(out->report_data, report_data, HIX_REPORT_DATA_SIZE);
  for (unsigned i = 0; i < HIX_MAX_LOCKS; i++) {
    const struct hix_lock* l = &core->locks[i];
    if (l->active && l->owner == enclave) {
      const struct hix_report_device d = {hix_bdf_value(l->dev.bdf), l->dev.vendor_id,
                                          l->dev.device_id, 1, 0};
      memcpy(out->device, &d, sizeof(d));
      break;
    }
  }
  memcpy(out->platform_key_id, core->key_id, sizeof(out->platform_key_id));
  /* Fields are little-endian on the wire; the emulated CPU and every host
   * we build for are little-endian, so the struct is the wire format. */
  crypto_sign_detached(out->signature, NULL, (const uint8_t*)out, HIX_REPORT_SIGNED_SIZE,
                       core->sign_sk);
}

enum hix_status hix_egetkey(const struct hix_core* core, int enclave,
                            const struct hix_keyrequest* req, uint8_t key[HIX_KEY_SIZE]) {
  static const char label[] = "HIX-SEAL-KEY-v1";
  const struct hix_enclave* e = &core->enclaves[enclave];
  crypto_auth_hmacsha256_state h;

  if (req->name != HIX_KEY_SEAL) {
    return HIX_ERR_INVALID_PARAM;
  }
  for (size_t i = 0; i < sizeof(req->reserved) / sizeof(req->reserved[0]); i++) {
    if (req->reserved[i] != 0) {
      return HIX_ERR_INVALID_PARAM;
    }
  }
  for (unsigned i = 0; i < sizeof(req->reserved2); i++) {
    if (req->reserved2[i] != 0) {
      return HIX_ERR_INVALID_PARAM;
    }
  }
  crypto_auth_hmacsha256_init(&h, core->seal_root, sizeof(core->seal_root));
  crypto_auth_hmacsha256_update(&h, (const uint8_t*)label, sizeof(label) - 1);
  crypto_auth_hmacsha256_update(&h, e->mrenclave, sizeof(e->mrenclave));
  crypto_auth_hmacsha256_update(&h, req->id, sizeof(req->id));
  crypto_auth_hmacsha256_final(&h, key);
  sodium_memzero(&h, sizeof(h));
  return HIX_OK;
}
