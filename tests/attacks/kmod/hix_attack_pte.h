/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Page-table attacks on the calling process: find the frame behind a user
 * address, and rewrite a user PTE to name another frame (the "OS remaps an
 * enclave page" attack), undone before the kernel itself touches that PTE.
 */
#ifndef HIX_ATTACK_PTE_H
#define HIX_ATTACK_PTE_H

#include <linux/list.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>

#include "hix_attack_abi.h"

struct hix_attack_pte {
	struct mutex bind_lock; /* serialises binding @mm */
	struct mm_struct *mm; /* the process whose PTEs we rewrite */
	struct mmu_notifier mn; /* registered on @mm while bound */
	spinlock_t lock; /* protects @rewrites, serialises PTE rewrites */
	struct list_head rewrites; /* struct hix_attack_rewrite */
};

void hix_attack_pte_init(struct hix_attack_pte *pte);
/* Undoes every rewrite still in place; at file release. */
void hix_attack_pte_release(struct hix_attack_pte *pte);
long hix_attack_virt_to_phys(struct hix_attack_virt_to_phys *req);
long hix_attack_remap(struct hix_attack_pte *pte, struct hix_attack_remap *req);
/* Flushes every CPU's TLB, global entries and all PCIDs included. */
void hix_attack_flush_tlb_all(void);

#endif /* HIX_ATTACK_PTE_H */
