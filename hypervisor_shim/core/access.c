/* The memory checks HIX adds to the TLB fill (docs/specs/hix-isa.md §5):
 * a decision on one (linear, physical, access) triple. */
#include "epcm.h"

static const uint32_t access_perm[] = {
    [HIX_ACCESS_READ] = HIX_PAGE_R,
    [HIX_ACCESS_WRITE] = HIX_PAGE_W,
    [HIX_ACCESS_FETCH] = HIX_PAGE_X,
};

static const enum hix_deny_kind outside_kind[] = {
    [HIX_ACCESS_READ] = HIX_DENY_EPC_READ,
    [HIX_ACCESS_WRITE] = HIX_DENY_EPC_WRITE,
    [HIX_ACCESS_FETCH] = HIX_DENY_EPC_FETCH,
};

/* A GLRANGE of the enclave holding linear, or -1. */
static int glrange_bar(const struct hix_core* core, int enclave, uint64_t linear,
                       const struct hix_lock** lock) {
  for (unsigned i = 0; i < HIX_MAX_LOCKS; i++) {
    const struct hix_lock* l = &core->locks[i];
    if (!l->active || l->owner != enclave) continue;
    for (unsigned b = 0; b < HIX_NUM_BARS; b++) {
      if (l->glrange[b] && linear >= l->glrange[b] && linear - l->glrange[b] < l->dev.bar[b].size) {
        *lock = l;
        return (int)b;
      }
    }
  }
  return -1;
}

/* §13: locked BAR pages, and the owner's GLRANGE. HIX_ALLOW with
 * *device_tag false means "not a locked-device access, go on". */
static enum hix_verdict check_locked_bar(const struct hix_core* core, int enclave,
                                         bool paging_structure, uint64_t page, uint64_t pa,
                                         enum hix_access access, uint32_t* perm_mask,
                                         bool* device_tag, enum hix_deny_kind* kind) {
  unsigned bar = 0;
  const struct hix_lock* l = hix_lock_by_pa(core, pa, &bar);
  const struct hix_lock* mine = NULL;
  const int gbar = enclave >= 0 && !paging_structure ? glrange_bar(core, enclave, page, &mine) : -1;

  if (gbar >= 0) {
    /* The owner's view of its device: exactly the matching BAR page. */
    const uint64_t want = mine->dev.bar[gbar].base + (page - mine->glrange[gbar]);
    if (l != mine || (pa & ~(uint64_t)(HIX_PAGE_SIZE - 1)) != want) {
      *kind = HIX_DENY_ENCLAVE_GLRANGE_MISMATCH;
      return HIX_ENCLAVE_ABORT;
    }
    if (access == HIX_ACCESS_FETCH) {
      *kind = HIX_DENY_ENCLAVE_PERM;
      return HIX_ENCLAVE_ABORT;
    }
    *perm_mask = HIX_PAGE_R | HIX_PAGE_W;
    *device_tag = true;
    return HIX_ALLOW;
  }
  if (!l) return HIX_ALLOW;
  static const enum hix_deny_kind bar_kind[] = {
      [HIX_ACCESS_READ] = HIX_DENY_BAR_READ,
      [HIX_ACCESS_WRITE] = HIX_DENY_BAR_WRITE,
      [HIX_ACCESS_FETCH] = HIX_DENY_BAR_FETCH,
  };
  *kind = bar_kind[access];
  return access == HIX_ACCESS_FETCH ? HIX_FAULT_GP : HIX_ABORT_PAGE;
}

enum hix_verdict hix_check_access(const struct hix_core* core, int enclave, bool paging_structure,
                                  uint64_t linear, uint64_t pa, enum hix_access access,
                                  uint32_t* perm_mask, bool* device_tag, enum hix_deny_kind* kind) {
  const struct hix_epcm_entry* p;

  *perm_mask = HIX_PAGE_PERM_MASK;
  *device_tag = false;
  if (!core->enforce) {
    return HIX_ALLOW;
  }
  p = hix_epcm_find(&core->epcm, HIX_PFN(pa));
  const uint64_t page = linear & ~(uint64_t)(HIX_PAGE_SIZE - 1);

  if (!p) {
    const enum hix_verdict v = check_locked_bar(core, enclave, paging_structure, page, pa, access,
                                                perm_mask, device_tag, kind);
    if (v != HIX_ALLOW || *device_tag) return v;
  }

  if (enclave < 0 || paging_structure) {
    if (!p) {
      return HIX_ALLOW;
    }
    *kind = outside_kind[access];
    return access == HIX_ACCESS_FETCH ? HIX_FAULT_GP : HIX_ABORT_PAGE;
  }

  if (p) {
    if (p->owner != enclave || (p->flags & HIX_PAGE_TYPE_MASK) != HIX_PAGE_TYPE_REG ||
        p->linaddr != page) {
      *kind = HIX_DENY_ENCLAVE_LINEAR_MISMATCH;
      return HIX_ENCLAVE_ABORT;
    }
    if (!(p->flags & access_perm[access])) {
      *kind = HIX_DENY_ENCLAVE_PERM;
      return HIX_ENCLAVE_ABORT;
    }
    *perm_mask = p->flags & HIX_PAGE_PERM_MASK;
    return HIX_ALLOW;
  }
  if (hix_in_elrange(core, enclave, linear)) {
    /* ELRANGE backed by anything but its own EPC page: a remap. */
    *kind = HIX_DENY_ENCLAVE_LINEAR_MISMATCH;
    return HIX_ENCLAVE_ABORT;
  }
  if (access == HIX_ACCESS_FETCH) {
    *kind = HIX_DENY_ENCLAVE_FETCH_OUTSIDE;
    return HIX_ENCLAVE_ABORT;
  }
  /* The enclave's untrusted buffers. */
  *perm_mask = HIX_PAGE_R | HIX_PAGE_W;
  return HIX_ALLOW;
}
