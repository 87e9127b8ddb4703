/* Enclaves: the platform core's state and the ENCLS/ENCLU leaves that change
 * it (docs/specs/hix-isa.md §2). Callers serialise every call here. */
#include <stdlib.h>
#include <string.h>

#include "enclave.h"
#include "epcm.h"
#include "lock.h"
#include "measure.h"

static const uint8_t zero_page[HIX_PAGE_SIZE];

static bool page_aligned(hix_paddr_t pa) {
  return hix_pa_is_aligned(pa, HIX_PAGE_SIZE);
}

static void scrub_page(struct hix_core* core, hix_pfn_t pfn) {
  core->mem->write(core->mem_opaque, hix_pfn_pa(pfn), zero_page, HIX_PAGE_SIZE);
}

int hix_core_init(struct hix_core* core, const uint8_t secret_key[64], bool enforce,
                  size_t epc_limit_pages, FILE* audit, const struct hix_mem_ops* mem,
                  void* mem_opaque) {
  uint8_t pk[crypto_sign_PUBLICKEYBYTES];
  uint8_t sk[crypto_sign_SECRETKEYBYTES];
  static const char seal_label[] = "HIX-SEAL-ROOT-v1";

  memset(core, 0, sizeof(*core));
  if (sodium_init() < 0) {
    return -1;
  }
  /* The file's public half must be the seed's: a mismatched file would make
   * every report unverifiable, so refuse it at start. */
  crypto_sign_seed_keypair(pk, sk, secret_key);
  if (sodium_memcmp(pk, secret_key + 32, sizeof(pk)) != 0) {
    sodium_memzero(sk, sizeof(sk));
    return -1;
  }
  memcpy(core->sign_sk, sk, sizeof(sk));
  memcpy(core->sign_pk, pk, sizeof(pk));
  sodium_memzero(sk, sizeof(sk));
  crypto_hash_sha256(core->key_id, core->sign_pk, sizeof(core->sign_pk));
  crypto_auth_hmacsha256_state h;
  crypto_auth_hmacsha256_init(&h, secret_key, 32);
  crypto_auth_hmacsha256_update(&h, (const uint8_t*)seal_label, sizeof(seal_label) - 1);
  crypto_auth_hmacsha256_final(&h, core->seal_root);
  sodium_memzero(&h, sizeof(h));

  if (hix_epcm_init(&core->epcm, epc_limit_pages) != 0) {
    return -1;
  }
  core->enforce = enforce;
  core->mem = mem;
  core->mem_opaque = mem_opaque;
  core->audit.file = audit;
  return 0;
}

static void enclave_free(struct hix_enclave* e) {
  free(e->linmap);
  sodium_memzero(e, sizeof(*e));
}

void hix_core_destroy(struct hix_core* core) {
  for (unsigned i = 0; i < HIX_MAX_ENCLAVES; i++) {
    enclave_free(&core->enclaves[i]);
  }
  hix_epcm_destroy(&core->epcm);
  sodium_memzero(core->sign_sk, sizeof(core->sign_sk));
  sodium_memzero(core->seal_root, sizeof(core->seal_root));
}

void hix_core_reset(struct hix_core* core) {
  for (size_t i = 0; i < core->epcm.capacity; i++) {
    struct hix_epcm_entry* e = &core->epcm.slots[i];
    /* enforce=off keeps the contents (spec §16.6: the S3 control). */
    if (core->enforce && hix_epcm_slot_used(e)) {
      scrub_page(core, e->pfn);
    }
  }
  hix_epcm_clear(&core->epcm);
  for (unsigned i = 0; i < HIX_MAX_ENCLAVES; i++) {
    hix_locks_release(core, (int)i);
    enclave_free(&core->enclaves[i]);
  }
}

const struct hix_epcm_entry* hix_epcm_lookup(const struct hix_core* core, hix_paddr_t pa) {
  return hix_epcm_find(&core->epcm, hix_pa_pfn(pa));
}

size_t hix_epcm_count(const struct hix_core* core) {
  return core->epcm.used;
}

/* The enclave whose SECS is secs, or NULL. */
static struct hix_enclave* enclave_by_secs(struct hix_core* core, hix_secs_t secs, int* index) {
  const struct hix_epcm_entry* e;

  if (!page_aligned(hix_secs_pa(secs))) {
    return NULL;
  }
  e = hix_epcm_find(&core->epcm, hix_pa_pfn(hix_secs_pa(secs)));
  if (!e || (e->flags & HIX_PAGE_TYPE_MASK) != HIX_PAGE_TYPE_SECS) {
    return NULL;
  }
  if (index) {
    *index = e->owner;
  }
  return &core->enclaves[e->owner];
}

static bool usable_ram_page(struct hix_core* core, hix_paddr_t pa, enum hix_status* err) {
  if (!page_aligned(pa)) {
    *err = HIX_ERR_INVALID_PARAM;
    return false;
  }
  if (!core->mem->is_ram(core->mem_opaque, pa)) {
    *err = HIX_ERR_NOT_RAM;
    return false;
  }
  if (hix_epcm_find(&core->epcm, hix_pa_pfn(pa))) {
    *err = HIX_ERR_PAGE_IN_USE;
    return false;
  }
  return true;
}

enum hix_status hix_ecreate(struct hix_core* core, const struct hix_secs_params* p,
                            hix_secs_t secs) {
  const hix_paddr_t secs_pa = hix_secs_pa(secs);
  enum hix_status err;
  unsigned idx;

  if (p->size < HIX_PAGE_SIZE || p->size > HIX_MAX_ELRANGE || (p->size & (p->size - 1)) != 0 ||
      (p->base & (p->size - 1)) != 0 || p->base >= HIX_LINEAR_LIMIT ||
      p->size > HIX_LINEAR_LIMIT - p->base || p->attributes != 0) {
    return HIX_ERR_INVALID_PARAM;
  }
  for (size_t i = 0; i < sizeof(p->reserved) / sizeof(p->reserved[0]); i++) {
    if (p->reserved[i] != 0) {
      return HIX_ERR_INVALID_PARAM;
    }
  }
  if (!usable_ram_page(core, secs_pa, &err)) {
    return err;
  }
  for (idx = 0; idx < HIX_MAX_ENCLAVES; idx++) {
    if (core->enclaves[idx].state == HIX_ENCLAVE_FREE) {
      break;
    }
  }
  if (idx == HIX_MAX_ENCLAVES) {
    return HIX_ERR_NO_SPACE;
  }
  struct hix_enclave* e = &core->enclaves[idx];
  e->linmap = calloc(p->size / HIX_PAGE_SIZE / 8 + 1, 1);
  if (!e->linmap) {
    return HIX_ERR_NO_SPACE;
  }
  struct hix_epcm_entry secs_entry = {
      .pfn = hix_pa_pfn(secs_pa),
      .flags = HIX_PAGE_TYPE_SECS,
      .owner = (uint16_t)idx,
  };
  if (!hix_epcm_insert(&core->epcm, &secs_entry)) {
    free(e->linmap);
    e->linmap = NULL;
    return HIX_ERR_NO_SPACE;
  }
  scrub_page(core, secs_entry.pfn);
  e->state = HIX_ENCLAVE_UNINIT;
  e->secs = secs;
  e->base = hix_la(p->base);
  e->size = p->size;
  e->attributes = p->attributes;
  e->pages = 0;
  e->tcs_count = 0;
  e->active = 0;
  hix_measure_ecreate(&e->measure, p->size);
  return HIX_OK;
}

static bool tcs_valid(const struct hix_tcs* tcs, uint64_t size) {
  if (tcs->flags != 0 || tcs->entry >= size || tcs->stack > size || tcs->stack == 0 ||
      (tcs->stack & 15) != 0) {
    return false;
  }
  for (size_t i = 0; i < sizeof(tcs->reserved) / sizeof(tcs->reserved[0]); i++) {
    if (tcs->reserved[i] != 0) {
      return false;
    }
  }
  return true;
}

static bool linmap_test(const struct hix_enclave* e, uint64_t page) {
  return (e->linmap[page / 8] >> (page % 8)) & 1;
}

hix_secs_t hix_enclave_secs(const struct hix_core* core, int enclave) {
  const hix_secs_t none = hix_secs(hix_pa(0));
  if (enclave < 0 || (unsigned)enclave >= HIX_MAX_ENCLAVES) return none;
  const struct hix_enclave* e = &core->enclaves[enclave];
  return e->state == HIX_ENCLAVE_FREE ? none : e->secs;
}

bool hix_enclave_is_initialized(const struct hix_core* core, int enclave) {
  return enclave >= 0 && (unsigned)enclave < HIX_MAX_ENCLAVES &&
         core->enclaves[enclave].state == HIX_ENCLAVE_INIT;
}

bool hix_enclave_range_is_free(const struct hix_core* core, int enclave, hix_laddr_t linear,
                               uint64_t len) {
  if (enclave < 0 || (unsigned)enclave >= HIX_MAX_ENCLAVES) return false;
  const struct hix_enclave* e = &core->enclaves[enclave];
  if (e->state == HIX_ENCLAVE_FREE || len == 0 || !hix_la_in(linear, e->base, e->size) ||
      len > e->size - hix_la_offset(linear, e->base)) {
    return false;
  }
  for (uint64_t off = 0; off < len; off += HIX_PAGE_SIZE) {
    if (linmap_test(e, (hix_la_offset(linear, e->base) + off) / HIX_PAGE_SIZE)) return false;
  }
  return true;
}

static void linmap_set(struct hix_enclave* e, uint64_t page, bool on) {
  if (on) {
    e->linmap[page / 8] = (uint8_t)(e->linmap[page / 8] | (1u << (page % 8)));
  } else {
    e->linmap[page / 8] = (uint8_t)(e->linmap[page / 8] & ~(1u << (page % 8)));
  }
}

enum hix_status hix_eadd(struct hix_core* core, const struct hix_pageinfo* pi,
                         const uint8_t src[HIX_PAGE_SIZE], hix_paddr_t target_pa, hix_secs_t secs) {
  enum hix_status err;
  int idx;
  struct hix_enclave* e = enclave_by_secs(core, secs, &idx);
  const uint64_t type = pi->flags & HIX_PAGE_TYPE_MASK;
  const hix_laddr_t linaddr = hix_la(pi->linaddr);

  if (!e) {
    return HIX_ERR_BAD_SECS;
  }
  if (e->state != HIX_ENCLAVE_UNINIT) {
    return HIX_ERR_ENCLAVE_STATE;
  }
  if (pi->reserved != 0 || !hix_la_is_aligned(linaddr, HIX_PAGE_SIZE) ||
      !hix_la_in(linaddr, e->base, e->size) ||
      (pi->flags & ~(uint64_t)(HIX_PAGE_PERM_MASK | HIX_PAGE_TYPE_MASK)) ||
      !(pi->flags & HIX_PAGE_R)) {
    return HIX_ERR_INVALID_PARAM;
  }
  if (type == HIX_PAGE_TYPE_TCS) {
    struct hix_tcs tcs;
    memcpy(&tcs, src, sizeof(tcs));
    if ((pi->flags & HIX_PAGE_PERM_MASK) != (HIX_PAGE_R | HIX_PAGE_W) ||
        !tcs_valid(&tcs, e->size)) {
      return HIX_ERR_INVALID_PARAM;
    }
  } else if (type != HIX_PAGE_TYPE_REG) {
    return HIX_ERR_INVALID_PARAM;
  }
  if (!usable_ram_page(core, target_pa, &err)) {
    return err;
  }
  const uint64_t page = hix_la_offset(linaddr, e->base) / HIX_PAGE_SIZE;
  if (linmap_test(e, page)) {
    return HIX_ERR_LINADDR_IN_USE;
  }
  struct hix_epcm_entry entry = {
      .pfn = hix_pa_pfn(target_pa),
      .linaddr = linaddr,
      .flags = (uint32_t)pi->flags,
      .owner = (uint16_t)idx,
  };
  if (!hix_epcm_insert(&core->epcm, &entry)) {
    return HIX_ERR_NO_SPACE;
  }
  core->mem->write(core->mem_opaque, target_pa, src, HIX_PAGE_SIZE);
  linmap_set(e, page, true);
  e->pages++;
  if (type == HIX_PAGE_TYPE_TCS) {
    e->tcs_count++;
  }
  hix_measure_eadd(&e->measure, hix_la_offset(linaddr, e->base), pi->flags);
  return HIX_OK;
}

enum hix_status hix_eextend(struct hix_core* core, hix_paddr_t chunk_pa, hix_secs_t secs) {
  int idx;
  struct hix_enclave* e = enclave_by_secs(core, secs, &idx);
  uint8_t chunk[HIX_EEXTEND_CHUNK];

  if (!e) {
    return HIX_ERR_BAD_SECS;
  }
  if (e->state != HIX_ENCLAVE_UNINIT) {
    return HIX_ERR_ENCLAVE_STATE;
  }
  if (!hix_pa_is_aligned(chunk_pa, HIX_EEXTEND_CHUNK)) {
    return HIX_ERR_INVALID_PARAM;
  }
  const struct hix_epcm_entry* p = hix_epcm_find(&core->epcm, hix_pa_pfn(chunk_pa));
  if (!p || p->owner != idx || (p->flags & HIX_PAGE_TYPE_MASK) == HIX_PAGE_TYPE_SECS) {
    return HIX_ERR_NOT_EPC;
  }
  core->mem->read(core->mem_opaque, chunk_pa, chunk, sizeof(chunk));
  hix_measure_eextend(&e->measure,
                      hix_la_offset(p->linaddr, e->base) + hix_pa_page_offset(chunk_pa), chunk);
  return HIX_OK;
}

enum hix_status hix_einit(struct hix_core* core, hix_secs_t secs) {
  struct hix_enclave* e = enclave_by_secs(core, secs, NULL);

  if (!e) {
    return HIX_ERR_BAD_SECS;
  }
  if (e->state != HIX_ENCLAVE_UNINIT) {
    return HIX_ERR_ENCLAVE_STATE;
  }
  if (e->tcs_count == 0) {
    return HIX_ERR_NO_TCS;
  }
  hix_measure_final(&e->measure, e->mrenclave);
  e->state = HIX_ENCLAVE_INIT;
  return HIX_OK;
}

static void remove_page(struct hix_core* core, struct hix_enclave* e, struct hix_epcm_entry* p) {
  if ((p->flags & HIX_PAGE_TYPE_MASK) != HIX_PAGE_TYPE_SECS) {
    linmap_set(e, hix_la_offset(p->linaddr, e->base) / HIX_PAGE_SIZE, false);
    e->pages--;
    if ((p->flags & HIX_PAGE_TYPE_MASK) == HIX_PAGE_TYPE_TCS) {
      e->tcs_count--;
    }
  }
  scrub_page(core, p->pfn);
  hix_epcm_remove(&core->epcm, p);
}

enum hix_status hix_eremove(struct hix_core* core, hix_paddr_t page_pa) {
  struct hix_epcm_entry* p;

  if (!page_aligned(page_pa)) {
    return HIX_ERR_INVALID_PARAM;
  }
  p = hix_epcm_find(&core->epcm, hix_pa_pfn(page_pa));
  if (!p) {
    return HIX_ERR_NOT_EPC;
  }
  struct hix_enclave* e = &core->enclaves[p->owner];
  if (e->active) {
    return HIX_ERR_ENCLAVE_ACTIVE;
  }
  const bool secs = (p->flags & HIX_PAGE_TYPE_MASK) == HIX_PAGE_TYPE_SECS;
  if (secs && e->pages != 0) {
    return HIX_ERR_CHILD_PRESENT;
  }
  if (secs) {
    hix_locks_release(core, p->owner);
  }
  remove_page(core, e, p);
  if (secs) {
    enclave_free(e);
  }
  return HIX_OK;
}

enum hix_status hix_edestroy(struct hix_core* core, hix_secs_t secs) {
  int idx;
  struct hix_enclave* e = enclave_by_secs(core, secs, &idx);

  if (!e) {
    return HIX_ERR_BAD_SECS;
  }
  if (e->active) {
    return HIX_ERR_ENCLAVE_ACTIVE;
  }
  hix_locks_release(core, idx);
  for (size_t i = 0; i < core->epcm.capacity && e->pages; i++) {
    struct hix_epcm_entry* p = &core->epcm.slots[i];
    if (hix_epcm_slot_used(p) && p->owner == idx &&
        (p->flags & HIX_PAGE_TYPE_MASK) != HIX_PAGE_TYPE_SECS) {
      remove_page(core, e, p);
    }
  }
  remove_page(core, e, hix_epcm_find(&core->epcm, hix_pa_pfn(hix_secs_pa(secs))));
  enclave_free(e);
  return HIX_OK;
}

enum hix_status hix_eenter(struct hix_core* core, hix_laddr_t tcs_linear, hix_paddr_t tcs_pa,
                           struct hix_enclave_entry* out) {
  struct hix_epcm_entry* p = hix_epcm_find(&core->epcm, hix_pa_pfn(tcs_pa));
  struct hix_tcs tcs;

  if (!p || (p->flags & HIX_PAGE_TYPE_MASK) != HIX_PAGE_TYPE_TCS ||
      !hix_la_eq(p->linaddr, tcs_linear)) {
    return HIX_ERR_BAD_TCS;
  }
  struct hix_enclave* e = &core->enclaves[p->owner];
  if (e->state == HIX_ENCLAVE_DEAD) {
    return HIX_ERR_ENCLAVE_DEAD;
  }
  if (e->state != HIX_ENCLAVE_INIT) {
    return HIX_ERR_BAD_TCS;
  }
  if (p->busy) {
    return HIX_ERR_TCS_BUSY;
  }
  /* TCS pages are unreachable by software once added (§5), so what EADD
   * validated is still what is there. */
  core->mem->read(core->mem_opaque, hix_pa_page(tcs_pa), &tcs, sizeof(tcs));
  p->busy = 1;
  e->active++;
  out->enclave = p->owner;
  out->entry = hix_la_add(e->base, tcs.entry);
  out->stack = hix_la_add(e->base, tcs.stack);
  return HIX_OK;
}

void hix_enclave_leave(struct hix_core* core, int enclave, hix_paddr_t tcs_pa) {
  struct hix_epcm_entry* p = hix_epcm_find(&core->epcm, hix_pa_pfn(tcs_pa));
  struct hix_enclave* e = &core->enclaves[enclave];

  if (p && p->owner == enclave) {
    p->busy = 0;
  }
  if (e->active) {
    e->active--;
  }
}

void hix_enclave_mark_dead(struct hix_core* core, int enclave) {
  struct hix_enclave* e = &core->enclaves[enclave];

  if (e->state == HIX_ENCLAVE_INIT || e->state == HIX_ENCLAVE_UNINIT) {
    e->state = HIX_ENCLAVE_DEAD;
  }
}

void hix_enclave_scrub(struct hix_core* core, int enclave) {
  for (size_t i = 0; i < core->epcm.capacity; i++) {
    const struct hix_epcm_entry* p = &core->epcm.slots[i];
    if (hix_epcm_slot_used(p) && p->owner == enclave &&
        (p->flags & HIX_PAGE_TYPE_MASK) != HIX_PAGE_TYPE_SECS) {
      scrub_page(core, p->pfn);
    }
  }
}

bool hix_in_elrange(const struct hix_core* core, int enclave, hix_laddr_t linear) {
  const struct hix_enclave* e = &core->enclaves[enclave];

  return hix_la_in(linear, e->base, e->size);
}
