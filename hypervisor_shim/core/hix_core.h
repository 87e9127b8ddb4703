/* The HIX platform's policy core (docs/specs/hix-isa.md): EPCM, enclaves and
 * their ENCLS/ENCLU semantics, the TLB-fill access policy, measurement,
 * reports, sealing keys and the audit log.
 *
 * Plain C with libsodium and no QEMU types, so the same code runs inside the
 * patched QEMU and in host unit tests (guest memory is reached through the
 * hix_mem_ops seam). Addresses are typed by space (addr.h). Not thread-safe: the QEMU glue
 * serialises every call that changes state (see hypervisor_shim/qemu/files/hw/hix/hix_cpu.c). */
#ifndef HIX_CORE_H
#define HIX_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sodium.h>

#include "addr.h"
#include "hix/abi/hix_isa.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest ELRANGE an enclave may ask for (its linear-address map is a
 * bitmap of this many pages / 8 bytes). */
#define HIX_MAX_ELRANGE (4ull << 30)
/* Canonical lower-half limit for ELRANGE. */
#define HIX_LINEAR_LIMIT 0x0000800000000000ull

/* Guest physical memory, as the "hardware" sees it (no access checks). */
struct hix_mem_ops {
  bool (*is_ram)(void* opaque, hix_paddr_t pa);
  void (*read)(void* opaque, hix_paddr_t pa, void* buf, size_t len);
  void (*write)(void* opaque, hix_paddr_t pa, const void* buf, size_t len);
  /* Return a locked device to reset state with its memory zeroed (§12);
   * called before its lock is released. */
  void (*scrub_device)(void* opaque, hix_bdf_t bdf);
};

#define HIX_MAX_LOCKS 4u

/* What EGLOCK needs to know about the device at a BDF (§12). */
struct hix_device_desc {
  hix_bdf_t bdf;
  uint16_t vendor_id;
  uint16_t device_id;
  bool lockable; /* a device the platform can lock (the hix-gpu) */
  bool decoding; /* COMMAND.MEMORY set */
  struct {
    hix_paddr_t base; /* valid when size != 0 */
    uint64_t size;    /* 0: unassigned or not a memory BAR */
  } bar[HIX_NUM_BARS];
};

/* An engaged device lock. */
struct hix_lock {
  bool active;
  int owner; /* enclave index */
  struct hix_device_desc dev;
  hix_laddr_t glrange[HIX_NUM_BARS]; /* 0: BAR not mapped */
};

/* One EPC page. */
struct hix_epcm_entry {
  hix_pfn_t pfn;
  hix_laddr_t linaddr; /* 0 for the SECS */
  uint32_t flags;      /* HIX_PAGE_* permissions | type */
  uint16_t owner;      /* enclave index */
  uint8_t slot;        /* EPCM_SLOT_* (internal) */
  uint8_t busy;        /* TCS in use by a vCPU */
};

/* The EPCM: open addressing keyed by page frame number. */
struct hix_epcm {
  struct hix_epcm_entry* slots;
  size_t capacity; /* power of two, twice the EPC limit */
  size_t limit;    /* most EPC pages at once */
  size_t used;
  size_t tombstones;
};

enum hix_enclave_state {
  HIX_ENCLAVE_FREE = 0,
  HIX_ENCLAVE_UNINIT, /* after ECREATE, accepting EADD/EEXTEND */
  HIX_ENCLAVE_INIT,   /* after EINIT, can be entered */
  HIX_ENCLAVE_DEAD,   /* aborted; only EREMOVE/EDESTROY */
};

struct hix_enclave {
  enum hix_enclave_state state;
  hix_secs_t secs;
  hix_laddr_t base; /* ELRANGE */
  uint64_t size;
  uint64_t attributes;
  crypto_hash_sha256_state measure;
  uint8_t mrenclave[32];
  uint8_t* linmap; /* one bit per ELRANGE page: a page is added there */
  uint32_t pages;  /* EPC pages other than the SECS */
  uint32_t tcs_count;
  uint32_t active; /* vCPUs inside */
};

/* Kinds of denial (docs/specs/hix-isa.md §9). */
enum hix_deny_kind {
  HIX_DENY_EPC_READ = 0,
  HIX_DENY_EPC_WRITE,
  HIX_DENY_EPC_FETCH,
  HIX_DENY_ENCLAVE_LINEAR_MISMATCH,
  HIX_DENY_ENCLAVE_PERM,
  HIX_DENY_ENCLAVE_FETCH_OUTSIDE,
  HIX_DENY_ENCLAVE_UNMAPPED,
  HIX_DENY_ENCLAVE_EXCEPTION,
  HIX_DENY_ENCLS_CPL,
  HIX_DENY_ENCLU_CPL,
  HIX_DENY_BAR_READ,
  HIX_DENY_BAR_WRITE,
  HIX_DENY_BAR_FETCH,
  HIX_DENY_ENCLAVE_GLRANGE_MISMATCH,
  HIX_DENY_BAR_UNTAGGED,
  HIX_DENY_CONFIG_WRITE,
  HIX_DENY_CONFIG_WRITE_BRIDGE,
  HIX_DENY_DMA_EPC,
  HIX_DENY_DMA_BAR,
  HIX_DENY_CONFIG_WRITE_CHIPSET, /* §16.2 */
  HIX_DENY_ENCLAVE_EPC_DECODE,   /* §16.1 */
  HIX_DENY_KIND_COUNT,
};

enum hix_verdict {
  HIX_ALLOW = 0,
  HIX_ABORT_PAGE,    /* reads all-ones, writes dropped */
  HIX_FAULT_GP,      /* #GP(0) (instruction fetch of an abort page) */
  HIX_ENCLAVE_ABORT, /* kill the enclave, resume at the AEP */
};

enum hix_access { HIX_ACCESS_READ = 0, HIX_ACCESS_WRITE, HIX_ACCESS_FETCH };

/* One denied access, as the audit log records it. */
struct hix_denial {
  int vcpu;
  int cpl;
  uint64_t linear;
  uint64_t physical;
  enum hix_deny_kind kind;
  enum hix_verdict verdict;
  uint64_t enclave_secs;
};

#define HIX_AUDIT_LINE_CAP 100000u

struct hix_audit {
  FILE* file;
  uint64_t lines;
  uint64_t counts[HIX_DENY_KIND_COUNT];
  uint64_t total;
};

struct hix_core {
  struct hix_epcm epcm;
  struct hix_enclave enclaves[HIX_MAX_ENCLAVES];
  struct hix_lock locks[HIX_MAX_LOCKS];
  bool enforce;
  uint8_t sign_sk[crypto_sign_SECRETKEYBYTES];
  uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES];
  uint8_t key_id[32];
  uint8_t seal_root[32];
  const struct hix_mem_ops* mem;
  void* mem_opaque;
  struct hix_audit audit;
};

/* Platform set-up. secret_key: libsodium Ed25519 secret key (seed || pk);
 * refused if its halves do not belong together. audit may be NULL. */
int hix_core_init(struct hix_core* core, const uint8_t secret_key[64], bool enforce,
                  size_t epc_limit_pages, FILE* audit, const struct hix_mem_ops* mem,
                  void* mem_opaque);
void hix_core_destroy(struct hix_core* core);
/* Machine reset: scrub every EPC page (only when enforcing, spec §16.6),
 * forget every enclave. */
void hix_core_reset(struct hix_core* core);

/* EPCM */
const struct hix_epcm_entry* hix_epcm_lookup(const struct hix_core* core, hix_paddr_t pa);
size_t hix_epcm_count(const struct hix_core* core);

/* A range of physical memory. */
struct hix_phys_range {
  hix_paddr_t pa;
  uint64_t size;
};
/* Every EPC page as ranges of contiguous pages, in address order (a device's
 * DMA deny map, §15). Returns how many ranges the EPC takes; only the first
 * `max` are written, so a return above `max` means `out` is incomplete. */
size_t hix_epc_ranges(const struct hix_core* core, struct hix_phys_range* out, size_t max);

/* ENCLS leaves (§2.1); operands already copied out of guest memory. The
 * enclave is named by its SECS (hix_secs_t), the page a leaf works on by
 * its physical address: the two cannot trade places. */
enum hix_status hix_ecreate(struct hix_core* core, const struct hix_secs_params* params,
                            hix_secs_t secs);
enum hix_status hix_eadd(struct hix_core* core, const struct hix_pageinfo* pageinfo,
                         const uint8_t src[HIX_PAGE_SIZE], hix_paddr_t target, hix_secs_t secs);
enum hix_status hix_eextend(struct hix_core* core, hix_paddr_t chunk, hix_secs_t secs);
enum hix_status hix_einit(struct hix_core* core, hix_secs_t secs);
enum hix_status hix_eremove(struct hix_core* core, hix_paddr_t page);
enum hix_status hix_edestroy(struct hix_core* core, hix_secs_t secs);
/* EGLOCK (§12): dev describes the device at params->bdf as found now. */
enum hix_status hix_eglock(struct hix_core* core, hix_secs_t secs,
                           const struct hix_glock_params* params,
                           const struct hix_device_desc* dev);
/* The lock on the device at bdf, or NULL. */
const struct hix_lock* hix_lock_by_bdf(const struct hix_core* core, hix_bdf_t bdf);
/* Lock slot i (0 <= i < HIX_MAX_LOCKS) if it is active, else NULL. */
const struct hix_lock* hix_lock_at(const struct hix_core* core, unsigned i);
/* The slot of an active lock (0 <= slot < HIX_MAX_LOCKS). */
unsigned hix_lock_slot(const struct hix_core* core, const struct hix_lock* lock);
/* The physical address of the owner's SECS: an identity of the owner that
 * lives as long as the lock. */
hix_secs_t hix_lock_owner_secs(const struct hix_core* core, const struct hix_lock* lock);
/* The lock whose BAR holds pa (and which BAR), or NULL. */
const struct hix_lock* hix_lock_by_pa(const struct hix_core* core, hix_paddr_t pa, unsigned* bar);

/* Where EENTER puts a vCPU: the enclave index and the linear addresses to
 * load into RIP and RSP. */
struct hix_enclave_entry {
  int enclave;
  hix_laddr_t entry;
  hix_laddr_t stack;
};
/* EENTER's checks and TCS acquisition (§2.2); *out is written on success. */
enum hix_status hix_eenter(struct hix_core* core, hix_laddr_t tcs_linear, hix_paddr_t tcs_pa,
                           struct hix_enclave_entry* out);
/* The enclave's SECS (its identity in the audit log); physical address 0
 * for -1 (no enclave) or a free slot. */
hix_secs_t hix_enclave_secs(const struct hix_core* core, int enclave);
/* EEXIT or abort: release the TCS taken by EENTER. */
void hix_enclave_leave(struct hix_core* core, int enclave, hix_paddr_t tcs_pa);
/* Abort, part 1: no more EENTER. Part 2, once no vCPU runs the enclave:
 * zero its pages. */
void hix_enclave_mark_dead(struct hix_core* core, int enclave);
void hix_enclave_scrub(struct hix_core* core, int enclave);

/* One TLB fill to decide (§5): the translation linear -> physical. */
struct hix_access_request {
  int enclave;           /* the vCPU's enclave index, or -1 outside enclave mode */
  bool paging_structure; /* a page-table walk or another physical access by the CPU itself */
  hix_laddr_t linear;
  hix_paddr_t physical;
  enum hix_access access;
};
/* What the fill may install, beside the verdict. */
struct hix_access_grant {
  uint32_t perm_mask;      /* HIX_PAGE_R|W|X bits the installed translation may carry */
  bool device_tag;         /* the owner's GLRANGE: tag the translation (§13) */
  enum hix_deny_kind kind; /* set when the verdict is not HIX_ALLOW */
};
/* The TLB-fill policy (§5). *grant is always written; grant->kind only on a
 * denial. */
enum hix_verdict hix_check_access(const struct hix_core* core, const struct hix_access_request* req,
                                  struct hix_access_grant* grant);
/* The DMA filter (§15): may a bus master reach pa? */
bool hix_dma_allowed(const struct hix_core* core, hix_paddr_t pa, enum hix_deny_kind* kind);

/* Where a configuration-space byte lies (§14): the header, a capability of
 * the device's standard or extended list (by id, the offset counted from the
 * capability's start), or bytes no structure claims. */
enum hix_cfg_area {
  HIX_CFG_HEADER = 0,
  HIX_CFG_CAP,
  HIX_CFG_EXT_CAP,
  HIX_CFG_UNCLAIMED,
};
struct hix_cfg_place {
  enum hix_cfg_area area;
  uint16_t cap_id;
  uint32_t offset; /* from the start of the area */
};
/* A configuration-space write of len (1-4) bytes: the register bytes now
 * (old) and the value the OS writes (val), little-endian. */
struct hix_cfg_write {
  uint32_t len;
  uint32_t old;
  uint32_t val;
};
/* What a filtered write leaves to do: write `value`'s bytes named in
 * byte_mask (bit n = byte n). */
struct hix_cfg_filtered {
  uint32_t value;
  uint32_t byte_mask;
};
/* The configuration-space lock (§14), default deny, for a write at place
 * `at` to a locked endpoint (bridge = false) or to a bridge upstream of
 * one. Returns true when the write tried to change a locked bit (count,
 * log). */
bool hix_cfg_filter(bool bridge, struct hix_cfg_place at, const struct hix_cfg_write* w,
                    struct hix_cfg_filtered* out);
/* The writable mask of one byte (what hix_cfg_filter applies). */
uint8_t hix_cfg_writable_byte(bool bridge, struct hix_cfg_place at);

/* The chipset decode lock (§16.2). */
enum hix_chipset {
  HIX_CHIPSET_MCH = 0, /* q35 host bridge, 00:00.0 */
  HIX_CHIPSET_LPC,     /* ICH9 LPC bridge, 00:1f.0 */
};
/* Engaged while the platform enforces and any EPC page exists. */
bool hix_chipset_locked(const struct hix_core* core);
/* As hix_cfg_filter, for a write to a chipset function while the chipset
 * lock is engaged: every listed byte keeps its value. */
bool hix_chipset_filter(enum hix_chipset chip, uint32_t addr, const struct hix_cfg_write* w,
                        struct hix_cfg_filtered* out);

/* Is offset addr inside BAR register *bar (0x10-0x27)? */
bool hix_cfg_is_bar(uint32_t addr, unsigned* bar);
/* Is linear inside the enclave's ELRANGE? */
bool hix_in_elrange(const struct hix_core* core, int enclave, hix_laddr_t linear);

/* EREPORT and EGETKEY (§7). */
void hix_ereport(const struct hix_core* core, int enclave,
                 const uint8_t report_data[HIX_REPORT_DATA_SIZE], struct hix_report* out);
enum hix_status hix_egetkey(const struct hix_core* core, int enclave,
                            const struct hix_keyrequest* request, uint8_t key[HIX_KEY_SIZE]);

/* The audit log (§9): counts every denial, writes one JSON line each up to
 * the cap. Returns the line written (for tests), without the newline. */
void hix_audit_format(const struct hix_denial* d, double unix_time, char* line, size_t len);
void hix_audit_record(struct hix_core* core, const struct hix_denial* d);
const char* hix_deny_kind_name(enum hix_deny_kind kind);
const char* hix_verdict_name(enum hix_verdict verdict);

#ifdef __cplusplus
}
#endif

#endif /* HIX_CORE_H */
