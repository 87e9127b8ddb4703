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
static int glrange_bar(const struct hix_core* core, int enclave, hix_laddr_t linear,
                       const struct hix_lock** lock) {
  for (unsigned i = 0; i < HIX_MAX_LOCKS; i++) {
    const struct hix_lock* l = &core->locks[i];
    if (!l->active || l->owner != enclave) continue;
    for (unsigned b = 0; b < HIX_NUM_BARS; b++) {
      if (hix_la_addr(l->glrange[b]) && hix_la_in(linear, l->glrange[b], l->dev.bar[b].size)) {
        *lock = l;
        return (int)b;
      }
    }
  }
  return -1;
}

/* §13: locked BAR pages, and the owner's GLRANGE. HIX_ALLOW with
 * grant->device_tag false means "not a locked-device access, go on". */
static enum hix_verdict check_locked_bar(const struct hix_core* core,
                                         const struct hix_access_request* req,
                                         struct hix_access_grant* grant) {
  unsigned bar = 0;
  const struct hix_lock* l = hix_lock_by_pa(core, req->physical, &bar);
  const struct hix_lock* mine = NULL;
  const hix_laddr_t page = hix_la_page(req->linear);
  const int gbar = req->enclave >= 0 && !req->paging_structure
                       ? glrange_bar(core, req->enclave, page, &mine)
                       : -1;

  if (gbar >= 0) {
    /* The owner's view of its device: exactly the matching BAR page. */
    const hix_paddr_t want =
        hix_pa_add(mine->dev.bar[gbar].base, hix_la_offset(page, mine->glrange[gbar]));
    if (l != mine || !hix_pa_eq(hix_pa_page(req->physical), want)) {
      grant->kind = HIX_DENY_ENCLAVE_GLRANGE_MISMATCH;
      return HIX_ENCLAVE_ABORT;
    }
    if (req->access == HIX_ACCESS_FETCH) {
      grant->kind = HIX_DENY_ENCLAVE_PERM;
      return HIX_ENCLAVE_ABORT;
    }
    grant->perm_mask = HIX_PAGE_R | HIX_PAGE_W;
    grant->device_tag = true;
    return HIX_ALLOW;
  }
  if (!l) return HIX_ALLOW;
  static const enum hix_deny_kind bar_kind[] = {
      [HIX_ACCESS_READ] = HIX_DENY_BAR_READ,
      [HIX_ACCESS_WRITE] = HIX_DENY_BAR_WRITE,
      [HIX_ACCESS_FETCH] = HIX_DENY_BAR_FETCH,
  };
  grant->kind = bar_kind[req->access];
  return req->access == HIX_ACCESS_FETCH ? HIX_FAULT_GP : HIX_ABORT_PAGE;
}

enum hix_verdict hix_check_access(const struct hix_core* core, const struct hix_access_request* req,
                                  struct hix_access_grant* grant) {
  const enum hix_access access = req->access;
  const int enclave = req->enclave;

  grant->perm_mask = HIX_PAGE_PERM_MASK;
  grant->device_tag = false;
  if (!core->enforce) {
    return HIX_ALLOW;
  }
  const struct hix_epcm_entry* p = hix_epcm_find(&core->epcm, hix_pa_pfn(req->physical));

  if (!p) {
    const enum hix_verdict v = check_locked_bar(core, req, grant);
    if (v != HIX_ALLOW || grant->device_tag) return v;
  }

  if (enclave < 0 || req->paging_structure) {
    if (!p) {
      return HIX_ALLOW;
    }
    grant->kind = outside_kind[access];
    return access == HIX_ACCESS_FETCH ? HIX_FAULT_GP : HIX_ABORT_PAGE;
  }

  if (p) {
    if (p->owner != enclave || (p->flags & HIX_PAGE_TYPE_MASK) != HIX_PAGE_TYPE_REG ||
        !hix_la_eq(p->linaddr, hix_la_page(req->linear))) {
      grant->kind = HIX_DENY_ENCLAVE_LINEAR_MISMATCH;
      return HIX_ENCLAVE_ABORT;
    }
    if (!(p->flags & access_perm[access])) {
      grant->kind = HIX_DENY_ENCLAVE_PERM;
      return HIX_ENCLAVE_ABORT;
    }
    grant->perm_mask = p->flags & HIX_PAGE_PERM_MASK;
    return HIX_ALLOW;
  }
  if (hix_in_elrange(core, enclave, req->linear)) {
    /* ELRANGE backed by anything but its own EPC page: a remap. */
    grant->kind = HIX_DENY_ENCLAVE_LINEAR_MISMATCH;
    return HIX_ENCLAVE_ABORT;
  }
  if (access == HIX_ACCESS_FETCH) {
    grant->kind = HIX_DENY_ENCLAVE_FETCH_OUTSIDE;
    return HIX_ENCLAVE_ABORT;
  }
  /* The enclave's untrusted buffers. */
  grant->perm_mask = HIX_PAGE_R | HIX_PAGE_W;
  return HIX_ALLOW;
}
