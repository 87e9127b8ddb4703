/* Address spaces of the HIX platform core (STYLE.md §4, docs/specs/hix-isa.md
 * §2, §5, §12): guest-physical, guest-linear, EPC page frame, an enclave named
 * by its SECS page, and a PCI function (BDF). One single-member struct per
 * space, so handing one where another is expected does not compile; the raw
 * number comes out only through the accessor, at a boundary (a guest
 * register, an ABI struct, a log line). Plain C, usable from C++. */
#ifndef HIX_ADDR_H
#define HIX_ADDR_H

#include <stdbool.h>
#include <stdint.h>

#include "hix/abi/hix_isa.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HIX_PAGE_SHIFT 12
HIX_STATIC_ASSERT((1ull << HIX_PAGE_SHIFT) == HIX_PAGE_SIZE, "page shift matches HIX_PAGE_SIZE");

/* ---- Guest-physical address --------------------------------------------- */

typedef struct {
  uint64_t pa;
} hix_paddr_t;

static inline hix_paddr_t hix_pa(uint64_t pa) {
  const hix_paddr_t r = {pa};
  return r;
}
static inline uint64_t hix_pa_addr(hix_paddr_t pa) {
  return pa.pa;
}
static inline hix_paddr_t hix_pa_add(hix_paddr_t pa, uint64_t n) {
  return hix_pa(pa.pa + n);
}
/* The start of the page holding pa. */
static inline hix_paddr_t hix_pa_page(hix_paddr_t pa) {
  return hix_pa(pa.pa & ~(HIX_PAGE_SIZE - 1ull));
}
/* pa's offset within its page. */
static inline uint64_t hix_pa_page_offset(hix_paddr_t pa) {
  return pa.pa & (HIX_PAGE_SIZE - 1);
}
static inline bool hix_pa_is_aligned(hix_paddr_t pa, uint64_t alignment) {
  return (pa.pa & (alignment - 1)) == 0;
}
static inline bool hix_pa_eq(hix_paddr_t a, hix_paddr_t b) {
  return a.pa == b.pa;
}

/* ---- EPC page frame (the EPCM's key: a physical page number) ------------ */

typedef struct {
  uint64_t pfn;
} hix_pfn_t;

static inline hix_pfn_t hix_pa_pfn(hix_paddr_t pa) {
  const hix_pfn_t r = {pa.pa >> HIX_PAGE_SHIFT};
  return r;
}
static inline hix_paddr_t hix_pfn_pa(hix_pfn_t pfn) {
  return hix_pa(pfn.pfn << HIX_PAGE_SHIFT);
}
static inline uint64_t hix_pfn_value(hix_pfn_t pfn) {
  return pfn.pfn;
}
static inline bool hix_pfn_eq(hix_pfn_t a, hix_pfn_t b) {
  return a.pfn == b.pfn;
}

/* ---- Guest-linear (virtual) address -------------------------------------- */

typedef struct {
  uint64_t va;
} hix_laddr_t;

static inline hix_laddr_t hix_la(uint64_t va) {
  const hix_laddr_t r = {va};
  return r;
}
static inline uint64_t hix_la_addr(hix_laddr_t la) {
  return la.va;
}
static inline hix_laddr_t hix_la_add(hix_laddr_t la, uint64_t n) {
  return hix_la(la.va + n);
}
/* The start of the page holding la. */
static inline hix_laddr_t hix_la_page(hix_laddr_t la) {
  return hix_la(la.va & ~(HIX_PAGE_SIZE - 1ull));
}
static inline bool hix_la_is_aligned(hix_laddr_t la, uint64_t alignment) {
  return (la.va & (alignment - 1)) == 0;
}
static inline bool hix_la_eq(hix_laddr_t a, hix_laddr_t b) {
  return a.va == b.va;
}
/* Is la inside [base, base + size)? (No overflow for any base and size.) */
static inline bool hix_la_in(hix_laddr_t la, hix_laddr_t base, uint64_t size) {
  return la.va >= base.va && la.va - base.va < size;
}
/* la's offset from base; only meaningful when la >= base (hix_la_in). */
static inline uint64_t hix_la_offset(hix_laddr_t la, hix_laddr_t base) {
  return la.va - base.va;
}

/* ---- An enclave, named by the guest-physical address of its SECS --------- */

/* Every ENCLS leaf names its enclave this way; a distinct type keeps the SECS
 * operand from trading places with the page the leaf works on. */
typedef struct {
  hix_paddr_t pa;
} hix_secs_t;

static inline hix_secs_t hix_secs(hix_paddr_t pa) {
  const hix_secs_t r = {pa};
  return r;
}
static inline hix_paddr_t hix_secs_pa(hix_secs_t secs) {
  return secs.pa;
}

/* ---- PCI function: bus << 8 | device << 3 | function --------------------- */

typedef struct {
  uint32_t bdf;
} hix_bdf_t;

static inline hix_bdf_t hix_bdf(uint32_t bdf) {
  const hix_bdf_t r = {bdf};
  return r;
}
static inline uint32_t hix_bdf_value(hix_bdf_t bdf) {
  return bdf.bdf;
}
static inline bool hix_bdf_eq(hix_bdf_t a, hix_bdf_t b) {
  return a.bdf == b.bdf;
}

#ifdef __cplusplus
}
#endif

#endif /* HIX_ADDR_H */
