// SPDX-License-Identifier: GPL-2.0
/*
 * The enclave of one open file of /dev/hix (docs/specs/hix-isa.md §2.1, §11,
 * §12): ECREATE, EADD + EEXTEND, EINIT and EDESTROY on pages this driver
 * allocates, EGLOCK of a device whose BARs it maps into ELRANGE, and the user
 * mapping of the enclave's ELRANGE.
 *
 * The driver is untrusted: every check that protects an enclave is the CPU's.
 * The checks here protect the kernel: a page goes back to the page allocator
 * only after EDESTROY made it ordinary memory again, and no user mapping
 * outlives the pages it maps (HIX_IOC_DESTROY waits for munmap; file release
 * comes after the last munmap, since every mapping holds the file). A locked
 * BAR is mapped only while the ELRANGE mapping lasts; the lock itself ends in
 * the CPU at EDESTROY.
 *
 * Lock order: mmap_lock -> hix_encl.lock. The mmap, fault and vma open/close
 * paths run under mmap_lock and take the enclave lock, so the enclave lock is
 * never held while touching user memory (a fault there takes mmap_lock): the
 * ioctls copy their arguments and page contents in before locking.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/build_bug.h>
#include <linux/delay.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <asm/io.h>

#include "hix_enclave.h"
#include "hix_encls.h"
#include "hix_glock.h"

/*
 * File release retries EDESTROY this often while a vCPU is still inside: a
 * thread whose mapping is gone aborts at its next access to the enclave.
 */
#define HIX_RELEASE_TRIES 50
#define HIX_RELEASE_RETRY_MS 20

/*
 * ENCLS reads its memory operands through the page tables at CPL0: they live
 * in kernel memory (SMAP forbids user pages) and are aligned so that no page
 * boundary splits one.
 */
#define HIX_OPERAND_ALIGN 64
static_assert(sizeof(struct hix_secs_params) <= HIX_OPERAND_ALIGN);
static_assert(sizeof(struct hix_pageinfo) <= HIX_OPERAND_ALIGN);
static_assert(sizeof(struct hix_glock_params) <= HIX_OPERAND_ALIGN);

static const struct vm_operations_struct hix_vm_ops;

void hix_encl_init(struct hix_encl *encl)
{
	mutex_init(&encl->lock);
	xa_init(&encl->pages);
	encl->secs = NULL;
	encl->base = 0;
	encl->size = 0;
	encl->nr_pages = 0;
	encl->initialized = false;
	INIT_LIST_HEAD(&encl->glocks);
	encl->nr_vmas = 0;
}

static u64 hix_encl_secs_pa_locked(const struct hix_encl *encl)
{
	return page_to_phys(encl->secs);
}

/* Kernel linear address of an ENCLS memory operand. */
static u64 hix_linear(const void *p)
{
	return (u64)(unsigned long)p;
}

long hix_encl_create(struct hix_encl *encl, const struct hix_ioc_create *req)
{
	struct hix_secs_params params __aligned(HIX_OPERAND_ALIGN) = {
		.base = req->base,
		.size = req->size,
		.attributes = req->attributes,
	};
	struct page *secs;
	u64 status;
	long ret;

	secs = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!secs)
		return -ENOMEM;

	mutex_lock(&encl->lock);
	if (encl->secs) {
		ret = -EEXIST;
		goto out_free;
	}
	status = hix_encls(HIX_ECREATE, hix_linear(&params), page_to_phys(secs),
			   0);
	ret = hix_encls_errno(status);
	if (ret) {
		pr_debug("ECREATE base=%#llx size=%#llx: status %#llx\n",
			 req->base, req->size, status);
		/* A refused ECREATE leaves the page ordinary memory. */
		goto out_free;
	}
	encl->secs = secs;
	encl->base = req->base;
	encl->size = req->size;
	mutex_unlock(&encl->lock);
	return 0;

out_free:
	mutex_unlock(&encl->lock);
	__free_page(secs);
	return ret;
}

/*
 * EADD of one page whose contents are in @src (a kernel page) at ELRANGE
 * offset @offset, then EEXTEND of its 16 chunks when @measure. *status gets
 * the failing leaf's status, if a leaf failed.
 */
static long hix_encl_add_page(struct hix_encl *encl, struct page *src,
			      u64 offset, u64 flags, bool measure, u64 *status)
{
	struct hix_pageinfo info __aligned(HIX_OPERAND_ALIGN) = {
		.src = hix_linear(page_address(src)),
		.flags = flags,
	};
	unsigned long index = offset >> PAGE_SHIFT;
	struct page *target;
	unsigned int chunk;
	u64 secs_pa;
	long ret;

	target = alloc_page(GFP_KERNEL);
	if (!target)
		return -ENOMEM;

	mutex_lock(&encl->lock);
	/* The enclave may be gone, or another one in its place, by now. */
	if (!encl->secs) {
		ret = -ENXIO;
		goto out_free;
	}
	if (offset >= encl->size || encl->size - offset < PAGE_SIZE) {
		ret = -EINVAL;
		goto out_free;
	}
	/*
	 * Track the page before it becomes EPC, so that an EPC page can never
	 * be lost to a failed allocation. A taken slot means this linear
	 * address already has a page.
	 */
	ret = xa_insert(&encl->pages, index, target, GFP_KERNEL);
	if (ret) {
		if (ret == -EBUSY)
			ret = -EINVAL;
		goto out_free;
	}
	secs_pa = hix_encl_secs_pa_locked(encl);
	info.linaddr = encl->base + offset;
	*status = hix_encls(HIX_EADD, hix_linear(&info), page_to_phys(target),
			    secs_pa);
	ret = hix_encls_errno(*status);
	if (ret) {
		/* A refused EADD leaves the page ordinary memory. */
		xa_erase(&encl->pages, index);
		goto out_free;
	}
	encl->nr_pages++;

	for (chunk = 0; measure && chunk < PAGE_SIZE / HIX_EEXTEND_CHUNK;
	     chunk++) {
		*status = hix_encls(HIX_EEXTEND, 0,
				    page_to_phys(target) +
					    chunk * HIX_EEXTEND_CHUNK,
				    secs_pa);
		ret = hix_encls_errno(*status);
		if (ret)
			break;
	}
	mutex_unlock(&encl->lock);
	return ret;

out_free:
	mutex_unlock(&encl->lock);
	__free_page(target);
	return ret;
}

/* Whether @vma maps the ELRANGE of @encl. */
static bool hix_vma_of(const struct hix_encl *encl,
		       const struct vm_area_struct *vma)
{
	return vma->vm_ops == &hix_vm_ops && vma->vm_private_data == encl;
}

/*
 * A locked BAR's frames are device registers: uncached (PAT may settle on
 * UC- for the range, still uncached), and never code (the CPU refuses to
 * fetch from a GLRANGE anyway, §13).
 */
static vm_fault_t hix_insert_bar_pfn(struct vm_area_struct *vma,
				     unsigned long addr, unsigned long pfn)
{
	return vmf_insert_pfn_prot(
		vma, addr, pfn, pgprot_nx(pgprot_noncached(vma->vm_page_prot)));
}

/*
 * Maps the EPC page or locked BAR page behind @addr of @vma, if there is
 * one. Caller holds the mmap_lock of @vma's mm and @encl->lock.
 */
static vm_fault_t hix_encl_insert_locked(struct hix_encl *encl,
					 struct vm_area_struct *vma,
					 unsigned long addr)
{
	unsigned long index = linear_page_index(vma, addr);
	struct hix_glock *glock;
	struct page *page;
	unsigned long pfn;

	if (!encl->secs)
		return VM_FAULT_SIGBUS;
	page = xa_load(&encl->pages, index);
	if (page)
		return vmf_insert_pfn(vma, addr, page_to_pfn(page));
	list_for_each_entry(glock, &encl->glocks, node) {
		if (hix_glock_pfn(glock, (u64)index << PAGE_SHIFT, &pfn))
			return hix_insert_bar_pfn(vma, addr, pfn);
	}
	return VM_FAULT_SIGBUS;
}

/*
 * Pages added after the ELRANGE was mmapped are mapped here, in the caller's
 * own mapping, so that the enclave never meets a missing page-table entry (an
 * enclave-mode page fault aborts the enclave, §3). Other processes' mappings
 * get them at their first access from outside (hix_vm_fault).
 */
static void hix_encl_map_added(struct hix_encl *encl, u64 offset, u64 count)
{
	struct mm_struct *mm = current->mm;
	u64 i;

	/* A hint only: whatever it misses, hix_vm_fault maps later. */
	if (!mm || !READ_ONCE(encl->nr_vmas))
		return;

	mmap_read_lock(mm);
	mutex_lock(&encl->lock);
	for (i = 0; encl->secs && i < count; i++) {
		unsigned long addr = encl->base + offset + (i << PAGE_SHIFT);
		struct vm_area_struct *vma = vma_lookup(mm, addr);

		if (vma && hix_vma_of(encl, vma))
			hix_encl_insert_locked(encl, vma, addr);
	}
	mutex_unlock(&encl->lock);
	mmap_read_unlock(mm);
}

long hix_encl_add_pages(struct hix_encl *encl, struct hix_ioc_add_pages *req)
{
	bool measure = req->options & HIX_IOC_MEASURE;
	u64 status = HIX_OK;
	struct page *bounce;
	u64 size, npages, i;
	bool exists;
	long ret = 0;

	req->status = HIX_OK;
	req->count = 0;

	mutex_lock(&encl->lock);
	exists = encl->secs;
	size = encl->size;
	mutex_unlock(&encl->lock);
	if (!exists)
		return -ENXIO;
	if (req->options & ~HIX_IOC_MEASURE)
		return -EINVAL;
	if (!req->length || !PAGE_ALIGNED(req->offset) ||
	    !PAGE_ALIGNED(req->length))
		return -EINVAL;
	if (req->offset >= size || req->length > size - req->offset)
		return -EINVAL;

	bounce = alloc_page(GFP_KERNEL);
	if (!bounce)
		return -ENOMEM;

	npages = req->length >> PAGE_SHIFT;
	for (i = 0; i < npages; i++) {
		u64 delta = i << PAGE_SHIFT;

		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		/*
		 * EADD reads its source at CPL0 through the page tables, where
		 * SMAP forbids user pages: it gets a kernel copy.
		 */
		if (copy_from_user(page_address(bounce),
				   u64_to_user_ptr(req->src + delta),
				   PAGE_SIZE)) {
			ret = -EFAULT;
			break;
		}
		ret = hix_encl_add_page(encl, bounce, req->offset + delta,
					req->flags, measure, &status);
		if (ret)
			break;
		req->count++;
		cond_resched();
	}
	req->status = (u32)status;
	__free_page(bounce);

	if (req->count)
		hix_encl_map_added(encl, req->offset, req->count);
	return ret;
}

long hix_encl_einit(struct hix_encl *encl, struct hix_ioc_init *req)
{
	u64 status;

	req->status = HIX_OK;
	req->reserved = 0;
	mutex_lock(&encl->lock);
	if (!encl->secs) {
		mutex_unlock(&encl->lock);
		return -ENXIO;
	}
	status = hix_encls(HIX_EINIT, 0, 0, hix_encl_secs_pa_locked(encl));
	if (status == HIX_OK)
		encl->initialized = true;
	mutex_unlock(&encl->lock);
	req->status = (u32)status;
	return hix_encls_errno(status);
}

static bool hix_encl_initialized(struct hix_encl *encl)
{
	bool ret;

	mutex_lock(&encl->lock);
	ret = encl->secs && encl->initialized;
	mutex_unlock(&encl->lock);
	return ret;
}

/*
 * Whether the BAR ranges of @glock may be mapped into ELRANGE: each inside
 * it, over no added page, and none overlapping another (of this request or
 * of a device locked before).
 */
static bool hix_encl_glock_fits_locked(struct hix_encl *encl,
				       const struct hix_glock *glock)
{
	const struct hix_glock *other;
	unsigned int i;

	for (i = 0; i < HIX_NUM_BARS; i++) {
		const struct hix_glock_bar *bar = &glock->bars[i];
		unsigned long index = bar->offset >> PAGE_SHIFT;

		if (!hix_glock_maps(glock, i))
			continue;
		if (bar->offset >= encl->size ||
		    bar->len > encl->size - bar->offset)
			return false;
		/* A GLRANGE of 0 would tell EGLOCK "BAR not mapped". */
		if (!(encl->base + bar->offset))
			return false;
		if (xa_find(&encl->pages, &index,
			    (bar->offset + bar->len - 1) >> PAGE_SHIFT,
			    XA_PRESENT))
			return false;
		list_for_each_entry(other, &encl->glocks, node) {
			if (hix_glock_overlaps(other, bar->offset, bar->len))
				return false;
		}
	}
	return !hix_glock_self_overlaps(glock);
}

/*
 * The first of @mm's mappings of @encl's ELRANGE that intersects
 * [@addr, @end), or NULL. Caller holds @mm's mmap_lock.
 */
static struct vm_area_struct *hix_encl_next_vma(struct hix_encl *encl,
						struct mm_struct *mm,
						unsigned long addr,
						unsigned long end)
{
	struct vm_area_struct *vma;

	for (vma = find_vma(mm, addr); vma && vma->vm_start < end;
	     vma = find_vma(mm, vma->vm_end)) {
		if (hix_vma_of(encl, vma))
			return vma;
	}
	return NULL;
}

/*
 * Removes the BAR ranges of @glock from @mm's mappings of the ELRANGE.
 * Caller holds @mm's mmap_lock and @encl->lock.
 */
static void hix_encl_unmap_glock_locked(struct hix_encl *encl,
					struct mm_struct *mm,
					const struct hix_glock *glock)
{
	unsigned int i;

	for (i = 0; i < HIX_NUM_BARS; i++) {
		unsigned long start = encl->base + glock->bars[i].offset;
		unsigned long end = start + glock->bars[i].len;
		struct vm_area_struct *vma;

		if (!hix_glock_maps(glock, i))
			continue;
		for (vma = hix_encl_next_vma(encl, mm, start, end); vma;
		     vma = hix_encl_next_vma(encl, mm, vma->vm_end, end)) {
			unsigned long from = max(start, vma->vm_start);

			zap_vma_ptes(vma, from, min(end, vma->vm_end) - from);
		}
	}
}

/*
 * Maps the BAR ranges of @glock into @mm's mappings of the ELRANGE (all of
 * them, split by mprotect or not), so that the enclave never meets a missing
 * entry in its GLRANGE. Nothing stays mapped on failure. Caller holds @mm's
 * mmap_lock and @encl->lock.
 */
static int hix_encl_map_glock_locked(struct hix_encl *encl,
				     struct mm_struct *mm,
				     const struct hix_glock *glock)
{
	struct vm_area_struct *vma;
	unsigned long start, end, addr;
	unsigned int i;
	vm_fault_t f;

	for (i = 0; i < HIX_NUM_BARS; i++) {
		if (!hix_glock_maps(glock, i))
			continue;
		start = encl->base + glock->bars[i].offset;
		end = start + glock->bars[i].len;
		for (vma = hix_encl_next_vma(encl, mm, start, end); vma;
		     vma = hix_encl_next_vma(encl, mm, vma->vm_end, end)) {
			for (addr = max(start, vma->vm_start);
			     addr < min(end, vma->vm_end); addr += PAGE_SIZE) {
				f = hix_insert_bar_pfn(
					vma, addr,
					glock->bars[i].pfn +
						PHYS_PFN(addr - start));
				if (f & VM_FAULT_ERROR)
					goto undo;
			}
		}
	}
	return 0;

undo:
	hix_encl_unmap_glock_locked(encl, mm, glock);
	return vm_fault_to_errno(f, 0);
}

/*
 * HIX_IOC_GLOCK: map the device's BARs into the caller's ELRANGE mapping (or,
 * if it has none yet, leave that to mmap), then EGLOCK with those GLRANGEs.
 * The BARs are mapped before EGLOCK, since from EGLOCK on the enclave may use
 * them; a refused EGLOCK takes the mappings back. Without an initialised
 * enclave the answer is ENXIO, as for every ioctl (spec §11), even on a CPU
 * without EGLOCK.
 */
long hix_encl_glock(struct hix_encl *encl, struct hix_ioc_glock *req,
		    bool eglock)
{
	struct hix_glock_params params __aligned(HIX_OPERAND_ALIGN) = {
		.bdf = req->bdf,
	};
	struct mm_struct *mm = current->mm;
	struct hix_glock *glock;
	unsigned int i;
	u64 status;
	long ret;

	req->status = HIX_OK;
	if (!hix_encl_initialized(encl))
		return -ENXIO;
	if (!eglock)
		return -EOPNOTSUPP;
	glock = kzalloc(sizeof(*glock), GFP_KERNEL);
	if (!glock)
		return -ENOMEM;
	ret = hix_glock_resolve(glock, req);
	if (ret)
		goto out_free;

	if (mm)
		mmap_read_lock(mm);
	mutex_lock(&encl->lock);
	/* Destroyed, or replaced by an enclave not yet initialised, by now. */
	if (!encl->secs || !encl->initialized) {
		ret = -ENXIO;
		goto out_unlock;
	}
	if (!hix_encl_glock_fits_locked(encl, glock)) {
		ret = -EINVAL;
		goto out_unlock;
	}
	if (mm) {
		ret = hix_encl_map_glock_locked(encl, mm, glock);
		if (ret)
			goto out_unlock;
	}
	for (i = 0; i < HIX_NUM_BARS; i++) {
		if (hix_glock_maps(glock, i))
			params.glrange[i] = encl->base + glock->bars[i].offset;
	}
	status = hix_encls(HIX_EGLOCK, hix_linear(&params), 0,
			   hix_encl_secs_pa_locked(encl));
	req->status = (u32)status;
	ret = hix_encls_errno(status);
	if (ret) {
		pr_debug("EGLOCK of %04x for enclave %#llx: status %#llx\n",
			 req->bdf, encl->base, status);
		if (mm)
			hix_encl_unmap_glock_locked(encl, mm, glock);
		goto out_unlock;
	}
	/* From here on mmap and the fault handler map the BARs too. */
	list_add_tail(&glock->node, &encl->glocks);
	glock = NULL;

out_unlock:
	mutex_unlock(&encl->lock);
	if (mm)
		mmap_read_unlock(mm);
out_free:
	kfree(glock);
	return ret;
}

/*
 * Drops the enclave's state without touching its pages. No mapping is left
 * (HIX_IOC_DESTROY and release come after the last munmap), so no locked BAR
 * is mapped either.
 */
static void hix_encl_forget_locked(struct hix_encl *encl)
{
	struct hix_glock *glock, *next;

	list_for_each_entry_safe(glock, next, &encl->glocks, node) {
		list_del(&glock->node);
		kfree(glock);
	}
	xa_destroy(&encl->pages);
	encl->secs = NULL;
	encl->base = 0;
	encl->size = 0;
	encl->nr_pages = 0;
	encl->initialized = false;
}

/*
 * EDESTROY. 0: the pages were ordinary memory again and are freed. -EBUSY: a
 * vCPU is inside; nothing changed. -EIO: the CPU refused otherwise; the pages
 * may still be EPC, so they are leaked, never handed to the page allocator
 * (the kernel would read all-ones from them and lose its writes).
 */
static long hix_encl_destroy_locked(struct hix_encl *encl)
{
	struct page *page;
	unsigned long index;
	u64 status;

	status = hix_encls(HIX_EDESTROY, 0, 0, hix_encl_secs_pa_locked(encl));
	if (status == HIX_ERR_ENCLAVE_ACTIVE)
		return -EBUSY;
	if (status != HIX_OK) {
		pr_warn("EDESTROY of enclave %#llx refused (status %#llx): leaking its %lu pages\n",
			encl->base, status, encl->nr_pages + 1);
		hix_encl_forget_locked(encl);
		return -EIO;
	}
	xa_for_each(&encl->pages, index, page)
		__free_page(page);
	__free_page(encl->secs);
	hix_encl_forget_locked(encl);
	return 0;
}

long hix_encl_destroy(struct hix_encl *encl)
{
	long ret;

	mutex_lock(&encl->lock);
	if (!encl->secs)
		ret = -ENXIO;
	else if (encl->nr_vmas)
		ret = -EBUSY; /* the pages are still mapped: munmap first */
	else
		ret = hix_encl_destroy_locked(encl);
	mutex_unlock(&encl->lock);
	return ret;
}

void hix_encl_release(struct hix_encl *encl)
{
	unsigned int tries;

	mutex_lock(&encl->lock);
	/* Every mapping holds the file, so none is left at release. */
	WARN_ON(encl->nr_vmas);
	for (tries = 1; encl->secs; tries++) {
		if (hix_encl_destroy_locked(encl) != -EBUSY)
			break;
		if (tries == HIX_RELEASE_TRIES) {
			pr_warn("enclave %#llx still active at release: leaking its %lu pages\n",
				encl->base, encl->nr_pages + 1);
			hix_encl_forget_locked(encl);
			break;
		}
		msleep(HIX_RELEASE_RETRY_MS);
	}
	mutex_unlock(&encl->lock);
	mutex_destroy(&encl->lock);
}

static int hix_encl_map_all_locked(struct hix_encl *encl,
				   struct vm_area_struct *vma)
{
	struct hix_glock *glock;
	struct page *page;
	unsigned long index;
	unsigned int i;
	u64 off;

	/*
	 * Raw page frames: no struct page refcounting through this mapping,
	 * no copy into a child, no growth, no enclave memory in core dumps.
	 */
	vma->vm_flags |= VM_PFNMAP | VM_IO | VM_DONTCOPY | VM_DONTEXPAND |
			 VM_DONTDUMP;
	vma->vm_ops = &hix_vm_ops;
	vma->vm_private_data = encl;

	xa_for_each(&encl->pages, index, page) {
		vm_fault_t f = vmf_insert_pfn(
			vma, vma->vm_start + (index << PAGE_SHIFT),
			page_to_pfn(page));

		if (f & VM_FAULT_ERROR)
			return vm_fault_to_errno(f, 0);
	}
	/* Locked BARs, like added pages: the enclave never faults on one. */
	list_for_each_entry(glock, &encl->glocks, node) {
		for (i = 0; i < HIX_NUM_BARS; i++) {
			const struct hix_glock_bar *bar = &glock->bars[i];

			if (!hix_glock_maps(glock, i))
				continue;
			for (off = 0; off < bar->len; off += PAGE_SIZE) {
				vm_fault_t f = hix_insert_bar_pfn(
					vma, vma->vm_start + bar->offset + off,
					bar->pfn + (off >> PAGE_SHIFT));

				if (f & VM_FAULT_ERROR)
					return vm_fault_to_errno(f, 0);
			}
		}
	}
	return 0;
}

int hix_encl_mmap(struct hix_encl *encl, struct vm_area_struct *vma)
{
	int ret;

	mutex_lock(&encl->lock);
	if (!encl->secs)
		ret = -ENXIO;
	else if (!(vma->vm_flags & VM_MAYSHARE) || vma->vm_pgoff ||
		 vma->vm_start != encl->base ||
		 vma->vm_end - vma->vm_start != encl->size)
		ret = -EINVAL; /* exactly the ELRANGE, MAP_SHARED, offset 0 */
	else
		ret = hix_encl_map_all_locked(encl, vma);
	if (!ret)
		encl->nr_vmas++;
	mutex_unlock(&encl->lock);
	return ret;
}

/* A mapping was split (mprotect, partial munmap) or copied (mremap). */
static void hix_vm_open(struct vm_area_struct *vma)
{
	struct hix_encl *encl = vma->vm_private_data;

	mutex_lock(&encl->lock);
	encl->nr_vmas++;
	mutex_unlock(&encl->lock);
}

static void hix_vm_close(struct vm_area_struct *vma)
{
	struct hix_encl *encl = vma->vm_private_data;

	mutex_lock(&encl->lock);
	encl->nr_vmas--;
	mutex_unlock(&encl->lock);
}

/* A page added after the mmap, or an entry the kernel zapped. */
static vm_fault_t hix_vm_fault(struct vm_fault *vmf)
{
	struct hix_encl *encl = vmf->vma->vm_private_data;
	vm_fault_t ret;

	mutex_lock(&encl->lock);
	ret = hix_encl_insert_locked(encl, vmf->vma, vmf->address);
	mutex_unlock(&encl->lock);
	return ret;
}

/* An EPC page is usable only at the linear address EADD recorded. */
static int hix_vm_mremap(struct vm_area_struct *vma)
{
	return -EINVAL;
}

static const struct vm_operations_struct hix_vm_ops = {
	.open = hix_vm_open,
	.close = hix_vm_close,
	.fault = hix_vm_fault,
	.mremap = hix_vm_mremap,
};
