/* The EPCM: which physical pages are enclave memory, whose, at which linear
 * address and with which permissions (docs/specs/hix-isa.md §2.1, §5).
 * Open addressing with linear probing keyed by page frame number; a lookup
 * runs on every TLB fill, so the empty case must be cheap. */
#include <stdlib.h>
#include <string.h>

#include "epcm.h"

enum { EPCM_SLOT_EMPTY = 0, EPCM_SLOT_USED = 1, EPCM_SLOT_TOMBSTONE = 2 };

static size_t epcm_hash(const struct hix_epcm* epcm, hix_pfn_t pfn) {
  /* Fibonacci hashing: frame numbers are dense and sequential. */
  return (size_t)((hix_pfn_value(pfn) * 0x9E3779B97F4A7C15ull) >> 20) & (epcm->capacity - 1);
}

int hix_epcm_init(struct hix_epcm* epcm, size_t limit) {
  size_t capacity = 16;

  while (capacity < 2 * limit) {
    capacity <<= 1;
  }
  memset(epcm, 0, sizeof(*epcm));
  epcm->slots = calloc(capacity, sizeof(*epcm->slots));
  if (!epcm->slots) {
    return -1;
  }
  epcm->capacity = capacity;
  epcm->limit = limit;
  return 0;
}

void hix_epcm_destroy(struct hix_epcm* epcm) {
  free(epcm->slots);
  memset(epcm, 0, sizeof(*epcm));
}

void hix_epcm_clear(struct hix_epcm* epcm) {
  memset(epcm->slots, 0, epcm->capacity * sizeof(*epcm->slots));
  epcm->used = 0;
  epcm->tombstones = 0;
}

struct hix_epcm_entry* hix_epcm_find(const struct hix_epcm* epcm, hix_pfn_t pfn) {
  size_t i = epcm_hash(epcm, pfn);

  for (size_t n = 0; n < epcm->capacity; n++) {
    struct hix_epcm_entry* e = &epcm->slots[i];
    if (e->slot == EPCM_SLOT_EMPTY) {
      return NULL;
    }
    if (e->slot == EPCM_SLOT_USED && hix_pfn_eq(e->pfn, pfn)) {
      return e;
    }
    i = (i + 1) & (epcm->capacity - 1);
  }
  return NULL;
}

/* Rebuild without tombstones once they crowd the table. */
static void epcm_rehash(struct hix_epcm* epcm) {
  struct hix_epcm_entry* old = epcm->slots;
  struct hix_epcm_entry* fresh = calloc(epcm->capacity, sizeof(*fresh));

  if (!fresh) {
    return; /* keep working with tombstones */
  }
  epcm->slots = fresh;
  epcm->used = 0;
  epcm->tombstones = 0;
  for (size_t i = 0; i < epcm->capacity; i++) {
    if (old[i].slot == EPCM_SLOT_USED) {
      hix_epcm_insert(epcm, &old[i]);
    }
  }
  free(old);
}

bool hix_epcm_insert(struct hix_epcm* epcm, const struct hix_epcm_entry* entry) {
  if (epcm->used >= epcm->limit) {
    return false;
  }
  if (epcm->used + epcm->tombstones >= epcm->capacity * 3 / 4) {
    epcm_rehash(epcm);
  }
  size_t i = epcm_hash(epcm, entry->pfn);
  for (;;) {
    struct hix_epcm_entry* e = &epcm->slots[i];
    if (e->slot != EPCM_SLOT_USED) {
      if (e->slot == EPCM_SLOT_TOMBSTONE) {
        epcm->tombstones--;
      }
      *e = *entry;
      e->slot = EPCM_SLOT_USED;
      epcm->used++;
      return true;
    }
    i = (i + 1) & (epcm->capacity - 1);
  }
}

void hix_epcm_remove(struct hix_epcm* epcm, struct hix_epcm_entry* entry) {
  memset(entry, 0, sizeof(*entry));
  entry->slot = EPCM_SLOT_TOMBSTONE;
  epcm->used--;
  epcm->tombstones++;
}

bool hix_epcm_slot_used(const struct hix_epcm_entry* entry) {
  return entry->slot == EPCM_SLOT_USED;
}

/* qsort's comparator: the signature is the C library's. */
/* NOLINTNEXTLINE(bugprone-easily-swappable-parameters) */
static int compare_pfn(const void* a, const void* b) {
  const uint64_t x = hix_pfn_value(*(const hix_pfn_t*)a);
  const uint64_t y = hix_pfn_value(*(const hix_pfn_t*)b);
  return x < y ? -1 : x > y;
}

size_t hix_epc_ranges(const struct hix_core* core, struct hix_phys_range* out, size_t max) {
  const struct hix_epcm* epcm = &core->epcm;
  hix_pfn_t* pfns = malloc((epcm->used + 1) * sizeof(*pfns));
  size_t n = 0;
  size_t count = 0;
  uint64_t end = 0;

  if (!pfns) return max + 1; /* cannot tell: the caller fails closed */
  for (size_t i = 0; i < epcm->capacity; i++) {
    if (hix_epcm_slot_used(&epcm->slots[i])) pfns[n++] = epcm->slots[i].pfn;
  }
  qsort(pfns, n, sizeof(*pfns), compare_pfn);
  for (size_t i = 0; i < n; i++) {
    const uint64_t pa = hix_pa_addr(hix_pfn_pa(pfns[i]));
    if (count > 0 && pa == end) {
      if (count <= max) out[count - 1].size += HIX_PAGE_SIZE;
    } else {
      if (count < max) out[count] = (struct hix_phys_range){hix_pa(pa), HIX_PAGE_SIZE};
      count++;
    }
    end = pa + HIX_PAGE_SIZE;
  }
  free(pfns);
  return count;
}
