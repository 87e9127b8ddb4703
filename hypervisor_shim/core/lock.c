/* Device locks: EGLOCK binds a PCI device to a GPU enclave and records where
 * the enclave maps each BAR (HIX's GLRANGE), docs/specs/hix-isa.md §12. */
#include <string.h>

#include "enclave.h"
#include "epcm.h"
#include "lock.h"

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen) {
  return a < b + blen && b < a + alen;
}

static enum hix_status check_glranges(const struct hix_core* core, int owner,
                                      const struct hix_glock_params* p,
                                      const struct hix_device_desc* dev) {
  unsigned mapped = 0;

  if (p->reserved0 != 0 || p->reserved[0] != 0) return HIX_ERR_INVALID_PARAM;
  for (unsigned i = 0; i < HIX_NUM_BARS; i++) {
    const uint64_t g = p->glrange[i];
    const uint64_t size = dev->bar[i].size;
    if (g == 0) continue;
    if (size == 0 || (g & (HIX_PAGE_SIZE - 1)) != 0 ||
        !hix_enclave_range_is_free(core, owner, g, size)) {
      return HIX_ERR_INVALID_PARAM;
    }
    for (unsigned j = 0; j < i; j++) {
      if (p->glrange[j] != 0 && ranges_overlap(g, size, p->glrange[j], dev->bar[j].size)) {
        return HIX_ERR_INVALID_PARAM;
      }
    }
    mapped++;
  }
  return mapped ? HIX_OK : HIX_ERR_INVALID_PARAM;
}

enum hix_status hix_eglock(struct hix_core* core, uint64_t secs_pa,
                           const struct hix_glock_params* p, const struct hix_device_desc* dev) {
  const struct hix_epcm_entry* secs = hix_epcm_lookup(core, secs_pa);
  struct hix_lock* slot = NULL;

  if ((secs_pa & (HIX_PAGE_SIZE - 1)) != 0 || !secs ||
      (secs->flags & HIX_PAGE_TYPE_MASK) != HIX_PAGE_TYPE_SECS) {
    return HIX_ERR_BAD_SECS;
  }
  const int owner = secs->owner;
  if (!hix_enclave_is_initialized(core, owner)) return HIX_ERR_ENCLAVE_STATE;
  if (!dev || !dev->lockable || !dev->decoding || dev->bdf != p->bdf) return HIX_ERR_NO_DEVICE;
  if (hix_lock_by_bdf(core, p->bdf)) return HIX_ERR_DEVICE_LOCKED;
  const enum hix_status st = check_glranges(core, owner, p, dev);
  if (st != HIX_OK) return st;
  for (unsigned i = 0; i < HIX_MAX_LOCKS; i++) {
    if (!core->locks[i].active) {
      slot = &core->locks[i];
      break;
    }
  }
  if (!slot) return HIX_ERR_NO_SPACE;
  memset(slot, 0, sizeof(*slot));
  slot->active = true;
  slot->owner = owner;
  slot->dev = *dev;
  memcpy(slot->glrange, p->glrange, sizeof(slot->glrange));
  return HIX_OK;
}

const struct hix_lock* hix_lock_at(const struct hix_core* core, unsigned i) {
  return i < HIX_MAX_LOCKS && core->locks[i].active ? &core->locks[i] : NULL;
}

unsigned hix_lock_slot(const struct hix_core* core, const struct hix_lock* lock) {
  return (unsigned)(lock - core->locks);
}

uint64_t hix_lock_owner_secs(const struct hix_core* core, const struct hix_lock* lock) {
  return core->enclaves[lock->owner].secs_pa;
}

const struct hix_lock* hix_lock_by_bdf(const struct hix_core* core, uint32_t bdf) {
  for (unsigned i = 0; i < HIX_MAX_LOCKS; i++) {
    if (core->locks[i].active && core->locks[i].dev.bdf == bdf) return &core->locks[i];
  }
  return NULL;
}

const struct hix_lock* hix_lock_by_pa(const struct hix_core* core, uint64_t pa, unsigned* bar) {
  for (unsigned i = 0; i < HIX_MAX_LOCKS; i++) {
    const struct hix_lock* l = &core->locks[i];
    if (!l->active) continue;
    for (unsigned b = 0; b < HIX_NUM_BARS; b++) {
      if (l->dev.bar[b].size && pa >= l->dev.bar[b].base &&
          pa - l->dev.bar[b].base < l->dev.bar[b].size) {
        *bar = b;
        return l;
      }
    }
  }
  return NULL;
}

void hix_locks_release(struct hix_core* core, int enclave) {
  for (unsigned i = 0; i < HIX_MAX_LOCKS; i++) {
    struct hix_lock* l = &core->locks[i];
    if (l->active && l->owner == enclave) {
      /* Scrub before release: the next owner gets a clean device (§12). */
      if (core->mem->scrub_device) core->mem->scrub_device(core->mem_opaque, l->dev.bdf);
      memset(l, 0, sizeof(*l));
    }
  }
}

bool hix_dma_allowed(const struct hix_core* core, uint64_t pa, enum hix_deny_kind* kind) {
  unsigned bar;

  if (!core->enforce) return true;
  if (hix_epcm_lookup(core, pa)) {
    *kind = HIX_DENY_DMA_EPC;
    return false;
  }
  if (hix_lock_by_pa(core, pa, &bar)) {
    *kind = HIX_DENY_DMA_BAR;
    return false;
  }
  return true;
}
