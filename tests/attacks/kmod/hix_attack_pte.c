// SPDX-License-Identifier: GPL-2.0
/*
 * Page-table attacks on the calling process (hix_attack_abi.h):
 * HIX_ATTACK_VIRT_TO_PHYS walks its page tables, HIX_ATTACK_REMAP_USER_PAGE
 * rewrites one of its PTEs behind the kernel's back.
 *
 * A rewritten PTE names a frame that the mm's accounting knows nothing of
 * (rmap and RSS still describe the original page), so the kernel must never
 * find it there: every rewrite is undone (the original PTE put back) before
 * the kernel itself changes that range. An mmu notifier provides the moment:
 * invalidate_range_start precedes munmap, mprotect, migration and reclaim of
 * the range, release precedes exit_mmap; closing the file undoes the rest.
 *
 * Lock order: hix_attack_pte.lock -> the PTE lock (follow_pte). While a
 * rewrite is listed its page table cannot be freed: freeing it needs an
 * invalidation of its range first, which takes our lock and unlists it.
 */
#include <linux/mm.h>
#include <linux/pgtable.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <asm/processor.h>
#include <asm/tlbflush.h>

#include "hix_attack_pte.h"

struct hix_attack_rewrite {
	struct list_head node;
	unsigned long vaddr; /* page aligned */
	pte_t orig; /* the PTE before the first rewrite */
};

static void hix_attack_flush_cpu(void *unused)
{
	__flush_tlb_all();
}

void hix_attack_flush_tlb_all(void)
{
	/* flush_tlb_mm_range() is not exported; __flush_tlb_all() is. */
	on_each_cpu(hix_attack_flush_cpu, NULL, 1);
}

static int hix_attack_walk(struct mm_struct *mm, unsigned long addr, u64 *phys)
{
	pgd_t *pgd;
	p4d_t *p4d;
	pud_t *pud, pudv;
	pmd_t *pmd, pmdv;
	pte_t *ptep, ptev;
	spinlock_t *ptl;

	pgd = pgd_offset(mm, addr);
	if (pgd_none(*pgd) || pgd_bad(*pgd))
		return -ENOENT;
	p4d = p4d_offset(pgd, addr);
	if (p4d_none(*p4d) || p4d_bad(*p4d))
		return -ENOENT;
	pud = pud_offset(p4d, addr);
	pudv = READ_ONCE(*pud);
	if (!pud_present(pudv))
		return -ENOENT;
	if (pud_leaf(pudv)) {
		*phys = ((u64)pud_pfn(pudv) << PAGE_SHIFT) + (addr & ~PUD_MASK);
		return 0;
	}
	if (pud_bad(pudv))
		return -ENOENT;
	pmd = pmd_offset(pud, addr);
	pmdv = READ_ONCE(*pmd);
	if (!pmd_present(pmdv))
		return -ENOENT;
	if (pmd_leaf(pmdv)) {
		*phys = ((u64)pmd_pfn(pmdv) << PAGE_SHIFT) + (addr & ~PMD_MASK);
		return 0;
	}
	if (pmd_bad(pmdv))
		return -ENOENT;
	ptep = pte_offset_map_lock(mm, pmd, addr, &ptl);
	ptev = ptep_get(ptep);
	pte_unmap_unlock(ptep, ptl);
	if (!pte_present(ptev))
		return -ENOENT;
	*phys = ((u64)pte_pfn(ptev) << PAGE_SHIFT) + offset_in_page(addr);
	return 0;
}

long hix_attack_virt_to_phys(struct hix_attack_virt_to_phys *req)
{
	struct mm_struct *mm = current->mm;
	long ret;

	if (!mm || req->vaddr >= TASK_SIZE_MAX)
		return -EINVAL;
	mmap_read_lock(mm);
	ret = hix_attack_walk(mm, req->vaddr, &req->phys);
	mmap_read_unlock(mm);
	return ret;
}

/* Puts @rw's original PTE back and unlists it. Caller holds pte->lock. */
static void hix_attack_undo_locked(struct hix_attack_pte *pte,
				   struct hix_attack_rewrite *rw)
{
	spinlock_t *ptl;
	pte_t *ptep;

	if (!follow_pte(pte->mm, rw->vaddr, &ptep, &ptl)) {
		set_pte_at(pte->mm, rw->vaddr, ptep, rw->orig);
		pte_unmap_unlock(ptep, ptl);
	}
	list_del(&rw->node);
	kfree(rw);
}

static void hix_attack_undo_range(struct hix_attack_pte *pte,
				  unsigned long start, unsigned long end)
{
	struct hix_attack_rewrite *rw, *next;

	spin_lock(&pte->lock);
	list_for_each_entry_safe(rw, next, &pte->rewrites, node) {
		if (rw->vaddr < end && rw->vaddr + PAGE_SIZE > start)
			hix_attack_undo_locked(pte, rw);
	}
	spin_unlock(&pte->lock);
}

/*
 * Runs before the kernel changes [start, end); it flushes the TLBs for the
 * range afterwards, so the undone PTEs need no flush of ours. Never sleeps
 * (the OOM reaper calls this in non-blocking mode).
 */
static int
hix_attack_mn_invalidate_range_start(struct mmu_notifier *mn,
				     const struct mmu_notifier_range *range)
{
	hix_attack_undo_range(container_of(mn, struct hix_attack_pte, mn),
			      range->start, range->end);
	return 0;
}

/* The mm is about to be torn down, or this file is being closed. */
static void hix_attack_mn_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	hix_attack_undo_range(container_of(mn, struct hix_attack_pte, mn), 0,
			      ULONG_MAX);
	hix_attack_flush_tlb_all();
}

static const struct mmu_notifier_ops hix_attack_mn_ops = {
	.release = hix_attack_mn_release,
	.invalidate_range_start = hix_attack_mn_invalidate_range_start,
};

void hix_attack_pte_init(struct hix_attack_pte *pte)
{
	mutex_init(&pte->bind_lock);
	pte->mm = NULL;
	pte->mn.ops = &hix_attack_mn_ops;
	spin_lock_init(&pte->lock);
	INIT_LIST_HEAD(&pte->rewrites);
}

void hix_attack_pte_release(struct hix_attack_pte *pte)
{
	/* Calls ->release (undoing every rewrite) unless exit_mmap did. */
	if (pte->mm)
		mmu_notifier_unregister(&pte->mn, pte->mm);
	WARN_ON(!list_empty(&pte->rewrites));
	mutex_destroy(&pte->bind_lock);
}

/* One file rewrites the PTEs of one process, the first that asks. */
static int hix_attack_bind(struct hix_attack_pte *pte, struct mm_struct *mm)
{
	int ret = 0;

	mutex_lock(&pte->bind_lock);
	if (!pte->mm) {
		ret = mmu_notifier_register(&pte->mn, mm);
		if (!ret)
			pte->mm = mm;
	} else if (pte->mm != mm) {
		ret = -EBUSY;
	}
	mutex_unlock(&pte->bind_lock);
	return ret;
}

static struct hix_attack_rewrite *
hix_attack_find_locked(struct hix_attack_pte *pte, unsigned long vaddr)
{
	struct hix_attack_rewrite *rw;

	list_for_each_entry(rw, &pte->rewrites, node) {
		if (rw->vaddr == vaddr)
			return rw;
	}
	return NULL;
}

long hix_attack_remap(struct hix_attack_pte *pte, struct hix_attack_remap *req)
{
	struct mm_struct *mm = current->mm;
	unsigned long vaddr = req->vaddr & PAGE_MASK;
	unsigned long new_pfn = PHYS_PFN(req->new_phys);
	struct hix_attack_rewrite *rw, *fresh;
	spinlock_t *ptl;
	pte_t *ptep, old;
	long ret;

	if (!mm || req->vaddr >= TASK_SIZE_MAX)
		return -EINVAL;
	if (req->new_phys >> boot_cpu_data.x86_phys_bits)
		return -EINVAL;
	ret = hix_attack_bind(pte, mm);
	if (ret)
		return ret;
	fresh = kmalloc(sizeof(*fresh), GFP_KERNEL);
	if (!fresh)
		return -ENOMEM;

	mmap_read_lock(mm);
	spin_lock(&pte->lock);
	/* Fails when nothing is mapped there or a huge page maps it. */
	if (follow_pte(mm, vaddr, &ptep, &ptl)) {
		ret = -ENOENT;
		goto out;
	}
	old = ptep_get(ptep);
	req->old_phys = (u64)pte_pfn(old) << PAGE_SHIFT;
	rw = hix_attack_find_locked(pte, vaddr);
	if (rw && pte_pfn(rw->orig) == new_pfn) {
		/* Back to the original frame: the kernel's own PTE again. */
		set_pte_at(mm, vaddr, ptep, rw->orig);
		list_del(&rw->node);
		kfree(rw);
	} else if (rw || pte_pfn(old) != new_pfn) {
		set_pte_at(mm, vaddr, ptep, pfn_pte(new_pfn, pte_pgprot(old)));
		if (!rw) {
			fresh->vaddr = vaddr;
			fresh->orig = old;
			list_add(&fresh->node, &pte->rewrites);
			fresh = NULL;
		}
	}
	pte_unmap_unlock(ptep, ptl);
out:
	spin_unlock(&pte->lock);
	mmap_read_unlock(mm);
	kfree(fresh);
	if (!ret)
		hix_attack_flush_tlb_all();
	return ret;
}
