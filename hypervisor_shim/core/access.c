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

enum hix_verdict hix_check_access(const struct hix_core* core, int enclave, bool paging_structure,
                                  uint64_t linear, uint64_t pa, enum hix_access access,
                                  uint32_t* perm_mask, enum hix_deny_kind* kind) {
  const struct hix_epcm_entry* p;

  *perm_mask = HIX_PAGE_PERM_MASK;
  if (!core->enforce) {
    return HIX_ALLOW;
  }
  p = hix_epcm_find(&core->epcm, HIX_PFN(pa));

  if (enclave < 0 || paging_structure) {
    if (!p) {
      return HIX_ALLOW;
    }
    *kind = outside_kind[access];
    return access == HIX_ACCESS_FETCH ? HIX_FAULT_GP : HIX_ABORT_PAGE;
  }

  const uint64_t page = linear & ~(uint64_t)(HIX_PAGE_SIZE - 1);
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
