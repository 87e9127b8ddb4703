/* SPDX-License-Identifier: GPL-2.0 */
/*
 * /dev/hix-attack, the attacker's kernel module (hix_attack.ko): root in the
 * guest is the attacker (DESIGN.md §1) and gets these primitives to aim at
 * enclave memory and locked BARs. Shared by the module and the C++ attack
 * programs; docs/kernel-driver.md has the details.
 */
#ifndef HIX_ATTACK_ABI_H
#define HIX_ATTACK_ABI_H

#ifdef __KERNEL__
#include <linux/ioctl.h>
#include <linux/types.h>
#else
#include <stdint.h>
#include <sys/ioctl.h>
#endif

#define HIX_ATTACK_DEVICE "/dev/hix-attack"
#define HIX_ATTACK_IOC_MAGIC 0xB8

/* [phys, phys + len) must lie in one 4 KiB page of RAM. */
struct hix_attack_phys_rw {
	uint64_t phys;
	uint64_t len; /* 1..4096 */
	uint64_t user_buf; /* the caller's buffer of len bytes */
};

struct hix_attack_mmio32 {
	uint64_t phys; /* 4-byte aligned, not RAM */
	uint32_t value; /* out for READ32, in for WRITE32 */
	uint32_t reserved;
};

struct hix_attack_virt_to_phys {
	uint64_t vaddr;
	uint64_t phys; /* out */
};

struct hix_attack_remap {
	uint64_t vaddr; /* the page containing it */
	uint64_t new_phys; /* the page containing it */
	uint64_t old_phys; /* out: the frame the PTE named before */
};

struct hix_attack_marked_page {
	uint64_t phys; /* out */
	uint8_t pattern;
	uint8_t reserved[7];
};

/* Read physical memory through the kernel's direct map. */
#define HIX_ATTACK_READ_PHYS_DIRECT \
	_IOW(HIX_ATTACK_IOC_MAGIC, 0x00, struct hix_attack_phys_rw)
/* Read physical memory through a fresh kernel mapping (vmap): a new linear address for the same frame. */
#define HIX_ATTACK_READ_PHYS_MAP \
	_IOW(HIX_ATTACK_IOC_MAGIC, 0x01, struct hix_attack_phys_rw)
/* Write physical memory through the kernel's direct map. */
#define HIX_ATTACK_WRITE_PHYS_DIRECT \
	_IOW(HIX_ATTACK_IOC_MAGIC, 0x02, struct hix_attack_phys_rw)
/* 32-bit MMIO read through ioremap (uncached), e.g. of a PCI BAR. */
#define HIX_ATTACK_READ32_IOREMAP \
	_IOWR(HIX_ATTACK_IOC_MAGIC, 0x03, struct hix_attack_mmio32)
/* 32-bit MMIO write through ioremap (uncached), e.g. to a PCI BAR. */
#define HIX_ATTACK_WRITE32_IOREMAP \
	_IOW(HIX_ATTACK_IOC_MAGIC, 0x04, struct hix_attack_mmio32)
/* The physical address the caller's page tables map vaddr to (any mapping, VM_PFNMAP and huge pages included); ENOENT if none. */
#define HIX_ATTACK_VIRT_TO_PHYS \
	_IOWR(HIX_ATTACK_IOC_MAGIC, 0x05, struct hix_attack_virt_to_phys)
/* Point the caller's 4 KiB PTE for vaddr at new_phys, protection bits kept, and flush every TLB; undone by a remap to the original frame, by any kernel change to that range (munmap, mprotect, exit) and by closing this file. */
#define HIX_ATTACK_REMAP_USER_PAGE \
	_IOWR(HIX_ATTACK_IOC_MAGIC, 0x06, struct hix_attack_remap)
/* Allocate a kernel page filled with pattern (attacker RAM), kept until this file is closed. */
#define HIX_ATTACK_ALLOC_MARKED_PAGE \
	_IOWR(HIX_ATTACK_IOC_MAGIC, 0x07, struct hix_attack_marked_page)

#ifdef __cplusplus
#define HIX_ATTACK_STATIC_ASSERT static_assert
#else
#define HIX_ATTACK_STATIC_ASSERT _Static_assert
#endif
HIX_ATTACK_STATIC_ASSERT(sizeof(struct hix_attack_phys_rw) == 24, "ABI");
HIX_ATTACK_STATIC_ASSERT(sizeof(struct hix_attack_mmio32) == 16, "ABI");
HIX_ATTACK_STATIC_ASSERT(sizeof(struct hix_attack_virt_to_phys) == 16, "ABI");
HIX_ATTACK_STATIC_ASSERT(sizeof(struct hix_attack_remap) == 24, "ABI");
HIX_ATTACK_STATIC_ASSERT(sizeof(struct hix_attack_marked_page) == 16, "ABI");

#endif /* HIX_ATTACK_ABI_H */
