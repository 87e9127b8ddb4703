/* Device locks: EGLOCK binds a PCI device to a GPU enclave and records where
 * the enclave maps each BAR (HIX's GLRANGE), docs/specs/hix-isa.md §12. */
#include <string.h>

#include "enclave.h"
#include "epcm.h"
#include "lock.h"

/* A window of ELRANGE a BAR is mapped into. */
struct linear_range {
  hix_laddr_t base;
  uint64_t size;
};

static bool ranges_overlap(struct linear_range a, struct linear_range b) {
  return hix_la_addr(a.base) < hix_la_addr(b.base) + b.size &&
         hix_la_addr(b.base) < hix_la_addr(a.base) + a.size;
}

static enum hix_status check_glranges(const struct hix_core* core, int owner,
                                      const struct hix_glock_params* p,
                                      const struct hix_device_desc* dev) {
  unsigned mapped = 0;

  if (p->reserved0 != 0 || p->reserved[0] != 0) return HIX_ERR_INVALID_PARAM;
  for (unsigned i = 0; i < HIX_NUM_BARS; i++) {
    const struct linear_range g = {hix_la(p->glrange[i]), dev->bar[i].size};
    if (hix_la_addr(g.base) == 0) continue;
    if (g.size == 0 || !hix_la_is_aligned(g.base, HIX_PAGE_SIZE) ||
        !hix_enclave_range_is_free(core, owner, g.base, g.size)) {
      return HIX_ERR_INVALID_PARAM;
    }
    for (unsigned j = 0; j < i; j++) {
      const struct linear_range earlier = {hix_la(p->glrange[j]), dev->bar[j].size};
      if (hix_la_addr(earlier.base) != 0 && ranges_overlap(g, earlier)) {
        return HIX_ERR_INVALID_PARAM;
      }
    }
    mapped++;
  }
  return mapped ? HIX_OK : HIX_ERR_INVALID_PARAM;
}

enum hix_status hix_eglock(struct hix_core* core, hix_secs_t secs, const struct hix_glock_params* p,
                           const struct hix_device_desc* dev) {
  const hix_paddr_t secs_pa = hix_secs_pa(secs);
  const struct hix_epcm_entry* entry = hix_epcm_lookup(core, secs_pa);
  struct hix_lock* slot = NULL;

  if (!hix_pa_is_aligned(secs_pa, HIX_PAGE_SIZE) || !entry ||
      (entry->flags & HIX_PAGE_TYPE_MASK) != HIX_PAGE_TYPE_SECS) {
    return HIX_ERR_BAD_SECS;
  }
  const int owner = entry->owner;
  const hix_bdf_t bdf = hix_bdf(p->bdf);
  if (!hix_enclave_is_initialized(core, owner)) return HIX_ERR_ENCLAVE_STATE;
  if (!dev || !dev->lockable || !dev->decoding || !hix_bdf_eq(dev->bdf, bdf)) {
    return HIX_ERR_NO_DEVICE;
  }
  if (hix_lock_by_bdf(core, bdf)) return HIX_ERR_DEVICE_LOCKED;
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
  for (unsigned i = 0; i < HIX_NUM_BARS; i++) slot->glrange[i] = hix_la(p->glrange[i]);
  return HIX_OK;
}

const struct hix_lock* hix_lock_at(const struct hix_core* core, unsigned i) {
  return i < HIX_MAX_LOCKS && core->locks[i].active ? &core->locks[i] : NULL;
}

unsigned hix_lock_slot(const struct hix_core* core, const struct hix_lock* lock) {
  return (unsigned)(lock - core->locks);
}

hix_secs_t hix_lock_owner_secs(const struct hix_core* core, const struct hix_lock* lock) {
  return core->enclaves[lock->owner].secs;
}

const struct hix_lock* hix_lock_by_bdf(const struct hix_core* core, hix_bdf_t bdf) {
  for (unsigned i = 0; i < HIX_MAX_LOCKS; i++) {
    if (core->locks[i].active && hix_bdf_eq(core->locks[i].dev.bdf, bdf)) return &core->locks[i];
  }
  return NULL;
}

const struct hix_lock* hix_lock_by_pa(const struct hix_core* core, hix_paddr_t pa, unsigned* bar) {
  for (unsigned i = 0; i < HIX_MAX_LOCKS; i++) {
    const struct hix_lock* l = &core->locks[i];
    if (!l->active) continue;
    for (unsigned b = 0; b < HIX_NUM_BARS; b++) {
      const uint64_t base = hix_pa_addr(l->dev.bar[b].base);
      if (l->dev.bar[b].size && hix_pa_addr(pa) >= base &&
          hix_pa_addr(pa) - base < l->dev.bar[b].size) {
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

bool hix_dma_allowed(const struct hix_core* core, hix_paddr_t pa, enum hix_deny_kind* kind) {
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
