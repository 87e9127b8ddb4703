/* /dev/hix, the OS driver's interface (docs/specs/hix-isa.md §11).
 * One enclave per open file; closing the file (or the process dying)
 * destroys it. DMA staging buffers (§11.1) are files of their own. */
#ifndef HIX_ABI_HIX_IOCTL_H
#define HIX_ABI_HIX_IOCTL_H

#ifdef __KERNEL__
#include <linux/ioctl.h>
#include <linux/types.h>
#else
#include <stdint.h>
#include <sys/ioctl.h>
#endif

#define HIX_IOC_MAGIC 'H'

/* The CPU's HIX support, from CPUID leaf HIX_CPUID_LEAF. */
struct hix_ioc_info {
  uint32_t isa_version;
  uint32_t encls_leaves;
  uint32_t enclu_leaves;
  uint32_t reserved;
};

/* ECREATE: a new enclave for this file. */
struct hix_ioc_create {
  uint64_t base;
  uint64_t size;
  uint64_t attributes;
};

/* EADD (+ EEXTEND of every 256-byte chunk when HIX_IOC_MEASURE is set) of
 * length/4096 pages from the user buffer src, at base + offset onwards, all
 * with the same EADD flags. On return, count holds the pages added (also on
 * error, so a caller knows how far it got). */
#define HIX_IOC_MEASURE 0x1u
struct hix_ioc_add_pages {
  uint64_t src;
  uint64_t offset;
  uint64_t length;
  uint64_t flags;   /* HIX_PAGE_* (permissions | type) */
  uint32_t options; /* HIX_IOC_MEASURE */
  uint32_t status;  /* out: the ENCLS status of the failing leaf, or 0 */
  uint64_t count;   /* out */
};

/* EINIT. status: the ENCLS status. */
struct hix_ioc_init {
  uint32_t status;
  uint32_t reserved;
};

/* Map BAR `bar` of the PCI device `bdf` into this file's ELRANGE at
 * base + offset (the GLRANGE) and EGLOCK it to the enclave (spec §11, §12).
 * One call per device: bar_mask names every BAR to map, offsets[i] its
 * offset. status: the ENCLS status. */
struct hix_ioc_glock {
  uint32_t bdf;
  uint32_t bar_mask; /* bit i: map BAR i at base + offsets[i] */
  uint64_t offsets[6];
  uint32_t status; /* out */
  uint32_t reserved;
};

/* A DMA staging buffer (spec §11.1): size bytes of zeroed, pinned guest RAM
 * owned by the new file fd; mmap(MAP_SHARED) of fd maps it with ordinary
 * pages (O_DIRECT reads may land in it). The buffer's guest-physical layout:
 * extent_count extents in mapping order, each physically contiguous. */
#define HIX_STAGING_MAX_EXTENTS 64
struct hix_staging_extent {
  uint64_t offset; /* from the start of the buffer */
  uint64_t gpa;    /* guest-physical address of the extent's first byte */
  uint64_t length; /* bytes, a multiple of 4096 */
};

struct hix_ioc_staging {
  uint64_t size;         /* in: bytes, a non-zero multiple of 4096, <= the cap */
  uint64_t reserved;     /* in: 0 */
  int32_t fd;            /* out: the buffer's file (O_RDWR | O_CLOEXEC) */
  uint32_t extent_count; /* out */
  struct hix_staging_extent extents[HIX_STAGING_MAX_EXTENTS]; /* out */
};

#define HIX_IOC_INFO _IOR(HIX_IOC_MAGIC, 0x00, struct hix_ioc_info)
#define HIX_IOC_CREATE _IOW(HIX_IOC_MAGIC, 0x01, struct hix_ioc_create)
#define HIX_IOC_ADD_PAGES _IOWR(HIX_IOC_MAGIC, 0x02, struct hix_ioc_add_pages)
#define HIX_IOC_INIT _IOR(HIX_IOC_MAGIC, 0x03, struct hix_ioc_init)
#define HIX_IOC_DESTROY _IO(HIX_IOC_MAGIC, 0x04)
#define HIX_IOC_GLOCK _IOWR(HIX_IOC_MAGIC, 0x05, struct hix_ioc_glock)
#define HIX_IOC_STAGING _IOWR(HIX_IOC_MAGIC, 0x06, struct hix_ioc_staging)

#endif /* HIX_ABI_HIX_IOCTL_H */
