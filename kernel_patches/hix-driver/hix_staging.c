// SPDX-License-Identifier: GPL-2.0
/*
 * DMA staging buffers (docs/specs/hix-isa.md §11.1): HIX_IOC_STAGING hands a
 * process zeroed guest RAM that a device may DMA, owned by a new anonymous
 * file, together with the buffer's guest-physical extents.
 *
 * Two needs shape it. The device needs physically contiguous ranges at known
 * addresses that never move: the buffer is made of the largest blocks the
 * page allocator has (order 10 = 4 MiB at most; the cloud kernel has no CMA),
 * allocated by the kernel as unmovable pages that are never on an LRU list,
 * so neither reclaim nor compaction nor migration touches them until the
 * buffer is freed. And bulk data must reach the buffer without a CPU copy:
 * hixd reads sealed tensors with O_DIRECT from a virtio-blk disk straight
 * into the mapping, and O_DIRECT takes the user pages with get_user_pages,
 * which refuses VM_PFNMAP/VM_IO mappings. So the mapping is an ordinary
 * shared mapping whose fault handler hands out the buffer's own struct pages
 * (refcounted), not remap_pfn_range.
 *
 * Lifetime: every mapping holds the file, so release runs after the last
 * munmap and the last close; it zeroes each page and frees it. Each buffer
 * counts against the staging account of the /dev/hix file that made it
 * (the staging_max_mib cap) until then, even if that file is closed first.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/highmem.h>
#include <linux/log2.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/refcount.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <asm/io.h>

#include "hix/abi/hix_ioctl.h"
#include "hix_staging.h"

/*
 * The largest block: MAX_ORDER - 1 is the buddy allocator's largest order on
 * 6.1 (10: 4 MiB with 4 KiB pages). Without CMA nothing larger can be had.
 */
#define HIX_STAGING_MAX_ORDER (MAX_ORDER - 1)

static unsigned int staging_max_mib = 256;
module_param(staging_max_mib, uint, 0644);
MODULE_PARM_DESC(
	staging_max_mib,
	"MiB of live DMA staging buffers per open file of /dev/hix (default 256)");

struct hix_staging_quota {
	refcount_t ref; /* the /dev/hix file, and each live buffer */
	spinlock_t lock;
	u64 used; /* bytes of live buffers */
};

struct hix_staging_buf {
	struct hix_staging_quota *quota; /* charged with nr_pages pages */
	unsigned long nr_pages;
	/*
	 * In mapping order. Each is an order-0 page with its own reference
	 * (split_page), so that the fault handler can hand out any one of
	 * them and the mm can refcount it like any other page.
	 */
	struct page **pages;
};

struct hix_staging_quota *hix_staging_quota_new(void)
{
	struct hix_staging_quota *quota;

	quota = kzalloc(sizeof(*quota), GFP_KERNEL);
	if (!quota)
		return NULL;
	refcount_set(&quota->ref, 1);
	spin_lock_init(&quota->lock);
	return quota;
}

void hix_staging_quota_put(struct hix_staging_quota *quota)
{
	if (refcount_dec_and_test(&quota->ref))
		kfree(quota);
}

/* Reserves @bytes of @quota's cap @cap; false when they do not fit. */
static bool hix_staging_charge(struct hix_staging_quota *quota, u64 bytes,
			       u64 cap)
{
	bool ok;

	spin_lock(&quota->lock);
	ok = quota->used <= cap && bytes <= cap - quota->used;
	if (ok)
		quota->used += bytes;
	spin_unlock(&quota->lock);
	return ok;
}

static void hix_staging_uncharge(struct hix_staging_quota *quota, u64 bytes)
{
	spin_lock(&quota->lock);
	quota->used -= bytes;
	spin_unlock(&quota->lock);
}

/*
 * Zeroes and frees the first @count pages of @buf. The buffer may have held
 * ciphertext only, but the next owner of a page gets nothing of ours. A page
 * someone else still holds (a get_user_pages pin of an O_DIRECT read in
 * flight) goes back to the allocator when they drop it.
 */
static void hix_staging_free_pages(struct hix_staging_buf *buf,
				   unsigned long count)
{
	unsigned long i;

	for (i = 0; i < count; i++) {
		clear_highpage(buf->pages[i]);
		__free_page(buf->pages[i]);
		if (!(i % 1024))
			cond_resched();
	}
}

static void hix_staging_buf_free(struct hix_staging_buf *buf,
				 unsigned long allocated)
{
	hix_staging_free_pages(buf, allocated);
	kvfree(buf->pages);
	hix_staging_uncharge(buf->quota, (u64)buf->nr_pages << PAGE_SHIFT);
	hix_staging_quota_put(buf->quota);
	kfree(buf);
}

/*
 * Records a block of @count pages at guest-physical @gpa, at buffer page
 * @index, in @req's extents: merged into the previous extent when it
 * continues it physically. False when a new extent would be one too many.
 */
static bool hix_staging_add_extent(struct hix_ioc_staging *req,
				   unsigned long index, u64 gpa,
				   unsigned long count)
{
	struct hix_staging_extent *last;
	u64 len = (u64)count << PAGE_SHIFT;

	if (req->extent_count) {
		last = &req->extents[req->extent_count - 1];
		if (last->gpa + last->length == gpa) {
			last->length += len;
			return true;
		}
	}
	if (req->extent_count == HIX_STAGING_MAX_EXTENTS)
		return false;
	req->extents[req->extent_count++] = (struct hix_staging_extent){
		.offset = (u64)index << PAGE_SHIFT,
		.gpa = gpa,
		.length = len,
	};
	return true;
}

/*
 * Fills @buf->pages with zeroed pages, block by block, and @req's extents
 * with their guest-physical layout. Returns the number of pages allocated;
 * *err is 0 when that is all of them.
 */
static unsigned long hix_staging_fill(struct hix_staging_buf *buf,
				      struct hix_ioc_staging *req, long *err)
{
	unsigned int order = HIX_STAGING_MAX_ORDER;
	unsigned long done = 0, i;

	*err = 0;
	while (done < buf->nr_pages) {
		unsigned int o =
			min_t(unsigned int, order, ilog2(buf->nr_pages - done));
		/*
		 * A large block is a bonus: one light attempt (no OOM killer,
		 * no long reclaim), then smaller orders. Single pages may
		 * reclaim hard but fail rather than OOM-kill anyone.
		 */
		gfp_t gfp = GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN |
			    (o ? __GFP_NORETRY : __GFP_RETRY_MAYFAIL);
		struct page *page;

		if (fatal_signal_pending(current)) {
			*err = -EINTR;
			break;
		}
		page = alloc_pages(gfp, o);
		if (!page) {
			if (!o) {
				*err = -ENOMEM;
				break;
			}
			/* Once a size has failed, do not retry it per block. */
			order = o - 1;
			continue;
		}
		/* Order-0 pages with a reference each, still contiguous. */
		split_page(page, o);
		for (i = 0; i < (1UL << o); i++)
			buf->pages[done + i] = nth_page(page, i);
		done += 1UL << o;
		if (!hix_staging_add_extent(req, done - (1UL << o),
					    page_to_phys(page), 1UL << o)) {
			*err = -ENOMEM; /* too fragmented for this size */
			break;
		}
		cond_resched();
	}
	return done;
}

/* A page of the buffer, mapped at its first touch from user space. */
static vm_fault_t hix_staging_fault(struct vm_fault *vmf)
{
	struct hix_staging_buf *buf = vmf->vma->vm_private_data;

	if (vmf->pgoff >= buf->nr_pages)
		return VM_FAULT_SIGBUS;
	vmf->page = buf->pages[vmf->pgoff];
	/* The mapping's reference; the mm drops it at unmap. */
	get_page(vmf->page);
	return 0;
}

static const struct vm_operations_struct hix_staging_vm_ops = {
	.fault = hix_staging_fault,
};

static int hix_staging_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct hix_staging_buf *buf = file->private_data;

	/* A private mapping would copy on write: the device would not see. */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_pgoff >= buf->nr_pages ||
	    vma_pages(vma) > buf->nr_pages - vma->vm_pgoff)
		return -EINVAL;
	/*
	 * Not VM_PFNMAP/VM_IO: get_user_pages must accept the range. No copy
	 * into a child, no growth, no staging data in core dumps. VM_DONTEXPAND
	 * also makes the mapping VM_SPECIAL, so mlock()/mlockall() leave the
	 * pages alone (they never move anyway, and a page still marked
	 * mlocked when we free it would be a bad page).
	 */
	vma->vm_flags |= VM_DONTCOPY | VM_DONTEXPAND | VM_DONTDUMP;
	vma->vm_ops = &hix_staging_vm_ops;
	vma->vm_private_data = buf;
	return 0;
}

/* The last close, after the last munmap (every mapping holds the file). */
static int hix_staging_release(struct inode *inode, struct file *file)
{
	struct hix_staging_buf *buf = file->private_data;

	hix_staging_buf_free(buf, buf->nr_pages);
	return 0;
}

static const struct file_operations hix_staging_fops = {
	.owner = THIS_MODULE,
	.mmap = hix_staging_mmap,
	.release = hix_staging_release,
	.llseek = noop_llseek,
};

/*
 * Checks @req, charges @quota and allocates the buffer, filling @req's
 * extents. On failure nothing stays allocated or charged.
 */
static long hix_staging_alloc(struct hix_staging_quota *quota,
			      struct hix_ioc_staging *req,
			      struct hix_staging_buf **out)
{
	u64 cap = (u64)READ_ONCE(staging_max_mib) << 20;
	struct hix_staging_buf *buf;
	unsigned long allocated;
	long ret;

	if (req->reserved || !req->size || !PAGE_ALIGNED(req->size) ||
	    req->size > cap)
		return -EINVAL;
	if (!hix_staging_charge(quota, req->size, cap))
		return -ENOMEM;
	buf = kzalloc(sizeof(*buf), GFP_KERNEL);
	if (!buf) {
		hix_staging_uncharge(quota, req->size);
		return -ENOMEM;
	}
	refcount_inc(&quota->ref);
	buf->quota = quota;
	buf->nr_pages = req->size >> PAGE_SHIFT;
	buf->pages = kvcalloc(buf->nr_pages, sizeof(*buf->pages), GFP_KERNEL);
	if (!buf->pages) {
		hix_staging_buf_free(buf, 0);
		return -ENOMEM;
	}
	allocated = hix_staging_fill(buf, req, &ret);
	if (ret) {
		hix_staging_buf_free(buf, allocated);
		return ret;
	}
	*out = buf;
	return 0;
}

long hix_staging_ioctl(struct hix_staging_quota *quota, void __user *uarg)
{
	struct hix_ioc_staging *req;
	struct hix_staging_buf *buf;
	struct file *file;
	long ret;
	int fd;

	/* 1.5 KiB of extents: too large for the kernel stack. */
	req = kmalloc(sizeof(*req), GFP_KERNEL);
	if (!req)
		return -ENOMEM;
	if (copy_from_user(req, uarg, sizeof(*req))) {
		ret = -EFAULT;
		goto out;
	}
	req->fd = -1;
	req->extent_count = 0;
	memset(req->extents, 0, sizeof(req->extents));
	ret = hix_staging_alloc(quota, req, &buf);
	if (ret)
		goto out;

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		hix_staging_buf_free(buf, buf->nr_pages);
		ret = fd;
		goto out;
	}
	file = anon_inode_getfile("[hix-staging]", &hix_staging_fops, buf,
				  O_RDWR);
	if (IS_ERR(file)) {
		put_unused_fd(fd);
		hix_staging_buf_free(buf, buf->nr_pages);
		ret = PTR_ERR(file);
		goto out;
	}
	/*
	 * The descriptor becomes visible only once the caller has the answer:
	 * on EFAULT the file goes away again, freeing the buffer.
	 */
	req->fd = fd;
	if (copy_to_user(uarg, req, sizeof(*req))) {
		put_unused_fd(fd);
		fput(file);
		ret = -EFAULT;
		goto out;
	}
	fd_install(fd, file);
	ret = 0;
out:
	kfree(req);
	return ret;
}
