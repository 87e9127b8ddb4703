// SPDX-License-Identifier: GPL-2.0
/*
 * hix_attack.ko: the attacker's kernel module for the OpenHIX attack tests.
 * Root in the guest is the attacker (docs/architecture.md §3);
 * /dev/hix-attack hands a test program the primitives such an attacker has:
 * physical memory through the direct map and through fresh mappings, MMIO
 * through ioremap, page-table walks and rewrites. ABI and semantics:
 * hix_attack_abi.h.
 *
 * Not part of OpenHIX's trusted or untrusted software stack: only the attack
 * tests load it (from /lib/modules/openhix-test).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/io.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <asm/processor.h>

#include "hix_attack_abi.h"
#include "hix_attack_platform.h"
#include "hix_attack_pte.h"

/* Attacker RAM per open file, enough for any test and no exhaustion. */
#define HIX_ATTACK_MAX_MARKED 1024

struct hix_attack_file {
	struct hix_attack_pte pte;
	struct mutex lock; /* protects @marked, @nr_marked, @blocks */
	struct list_head marked; /* ALLOC_MARKED_PAGE pages, by page->lru */
	unsigned int nr_marked;
	struct list_head
		blocks; /* ALLOC_BLOCK blocks, by their first page's lru */
};

/* Blocks per open file: a test needs a few. */
#define HIX_ATTACK_MAX_BLOCKS 16
#define HIX_ATTACK_MAX_BLOCK_ORDER 4

static bool hix_attack_phys_ok(u64 phys)
{
	return !(phys >> boot_cpu_data.x86_phys_bits);
}

/* The RAM page holding [phys, phys + len), which must not cross it. */
static struct page *hix_attack_ram_page(u64 phys, u64 len)
{
	unsigned long pfn = PHYS_PFN(phys);

	if (!len || len > PAGE_SIZE || offset_in_page(phys) + len > PAGE_SIZE)
		return NULL;
	if (!hix_attack_phys_ok(phys) || !pfn_valid(pfn) || !page_is_ram(pfn))
		return NULL;
	return pfn_to_page(pfn);
}

static long hix_attack_read_phys(const struct hix_attack_phys_rw *req,
				 bool fresh_mapping)
{
	struct page *page = hix_attack_ram_page(req->phys, req->len);
	void *buf, *kaddr;
	long ret = 0;

	if (!page)
		return -EINVAL;
	buf = kmalloc(req->len, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	if (fresh_mapping) {
		/* memremap() of RAM returns the direct map; vmap() does not. */
		kaddr = vmap(&page, 1, VM_MAP, PAGE_KERNEL);
		if (!kaddr) {
			ret = -ENOMEM;
			goto out;
		}
		memcpy(buf, kaddr + offset_in_page(req->phys), req->len);
		vunmap(kaddr);
	} else {
		memcpy(buf, page_address(page) + offset_in_page(req->phys),
		       req->len);
	}
	if (copy_to_user(u64_to_user_ptr(req->user_buf), buf, req->len))
		ret = -EFAULT;
out:
	kfree(buf);
	return ret;
}

static long hix_attack_write_phys(const struct hix_attack_phys_rw *req)
{
	struct page *page = hix_attack_ram_page(req->phys, req->len);
	void *buf;

	if (!page)
		return -EINVAL;
	buf = memdup_user(u64_to_user_ptr(req->user_buf), req->len);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	memcpy(page_address(page) + offset_in_page(req->phys), buf, req->len);
	kfree(buf);
	return 0;
}

static long hix_attack_mmio32(struct hix_attack_mmio32 *req, bool write)
{
	void __iomem *page;

	if (req->phys & 3 || !hix_attack_phys_ok(req->phys))
		return -EINVAL;
	/* ioremap() refuses RAM, with a warning: refuse it quietly first. */
	if (page_is_ram(PHYS_PFN(req->phys)))
		return -EINVAL;
	page = ioremap(req->phys & PAGE_MASK, PAGE_SIZE);
	if (!page)
		return -ENOMEM;
	if (write)
		writel(req->value, page + offset_in_page(req->phys));
	else
		req->value = readl(page + offset_in_page(req->phys));
	iounmap(page);
	return 0;
}

static long hix_attack_alloc_marked(struct hix_attack_file *af,
				    struct hix_attack_marked_page *req)
{
	struct page *page;

	mutex_lock(&af->lock);
	if (af->nr_marked >= HIX_ATTACK_MAX_MARKED) {
		mutex_unlock(&af->lock);
		return -ENOSPC;
	}
	page = alloc_page(GFP_KERNEL);
	if (!page) {
		mutex_unlock(&af->lock);
		return -ENOMEM;
	}
	memset(page_address(page), req->pattern, PAGE_SIZE);
	list_add(&page->lru, &af->marked);
	af->nr_marked++;
	mutex_unlock(&af->lock);

	req->phys = page_to_phys(page);
	memset(req->reserved, 0, sizeof(req->reserved));
	return 0;
}

static long hix_attack_alloc_block(struct hix_attack_file *af,
				   struct hix_attack_block *req)
{
	struct page *page, *pos;
	unsigned int n = 0;

	if (req->order > HIX_ATTACK_MAX_BLOCK_ORDER || req->reserved)
		return -EINVAL;
	mutex_lock(&af->lock);
	list_for_each_entry(pos, &af->blocks, lru)
		n++;
	if (n >= HIX_ATTACK_MAX_BLOCKS) {
		mutex_unlock(&af->lock);
		return -ENOSPC;
	}
	page = alloc_pages(GFP_KERNEL | __GFP_ZERO, req->order);
	if (!page) {
		mutex_unlock(&af->lock);
		return -ENOMEM;
	}
	set_page_private(page, req->order);
	list_add(&page->lru, &af->blocks);
	mutex_unlock(&af->lock);
	req->phys = page_to_phys(page);
	return 0;
}

static int hix_attack_open(struct inode *inode, struct file *file)
{
	struct hix_attack_file *af;

	af = kzalloc(sizeof(*af), GFP_KERNEL);
	if (!af)
		return -ENOMEM;
	hix_attack_pte_init(&af->pte);
	mutex_init(&af->lock);
	INIT_LIST_HEAD(&af->marked);
	INIT_LIST_HEAD(&af->blocks);
	file->private_data = af;
	return 0;
}

static int hix_attack_release(struct inode *inode, struct file *file)
{
	struct hix_attack_file *af = file->private_data;
	struct page *page, *next;

	/* First undo the rewrites: they may name the marked pages. */
	hix_attack_pte_release(&af->pte);
	list_for_each_entry_safe(page, next, &af->marked, lru) {
		list_del(&page->lru);
		__free_page(page);
	}
	list_for_each_entry_safe(page, next, &af->blocks, lru) {
		list_del(&page->lru);
		__free_pages(page, page_private(page));
	}
	mutex_destroy(&af->lock);
	kfree(af);
	return 0;
}

/*
 * Each ioctl's argument: copied in, handled, copied back when the ioctl
 * returns something in it (_IOWR).
 */
union hix_attack_arg {
	struct hix_attack_phys_rw rw;
	struct hix_attack_mmio32 mmio;
	struct hix_attack_virt_to_phys v2p;
	struct hix_attack_remap remap;
	struct hix_attack_marked_page marked;
	struct hix_attack_msr msr;
	struct hix_attack_vmrun vmrun;
	struct hix_attack_smi smi;
	struct hix_attack_encls encls;
	struct hix_attack_block block;
	struct hix_attack_iopm_oracle iopm;
	struct hix_attack_init_ipi init;
	struct hix_attack_l2_enclave l2;
};

static long hix_attack_dispatch(struct hix_attack_file *af, unsigned int cmd,
				union hix_attack_arg *arg)
{
	switch (cmd) {
	case HIX_ATTACK_READ_PHYS_DIRECT:
		return hix_attack_read_phys(&arg->rw, false);
	case HIX_ATTACK_READ_PHYS_MAP:
		return hix_attack_read_phys(&arg->rw, true);
	case HIX_ATTACK_WRITE_PHYS_DIRECT:
		return hix_attack_write_phys(&arg->rw);
	case HIX_ATTACK_READ32_IOREMAP:
		return hix_attack_mmio32(&arg->mmio, false);
	case HIX_ATTACK_WRITE32_IOREMAP:
		return hix_attack_mmio32(&arg->mmio, true);
	case HIX_ATTACK_VIRT_TO_PHYS:
		return hix_attack_virt_to_phys(&arg->v2p);
	case HIX_ATTACK_REMAP_USER_PAGE:
		return hix_attack_remap(&af->pte, &arg->remap);
	case HIX_ATTACK_ALLOC_MARKED_PAGE:
		return hix_attack_alloc_marked(af, &arg->marked);
	case HIX_ATTACK_RDMSR:
		return hix_attack_msr(&arg->msr, false);
	case HIX_ATTACK_WRMSR:
		return hix_attack_msr(&arg->msr, true);
	case HIX_ATTACK_VMRUN:
		return hix_attack_vmrun(&arg->vmrun);
	case HIX_ATTACK_SMI:
		return hix_attack_smi(&arg->smi);
	case HIX_ATTACK_READ_PHYS_IO:
		return hix_attack_phys_io(&arg->rw, false);
	case HIX_ATTACK_WRITE_PHYS_IO:
		return hix_attack_phys_io(&arg->rw, true);
	case HIX_ATTACK_ENCLS:
		return hix_attack_encls(&arg->encls);
	case HIX_ATTACK_ALLOC_BLOCK:
		return hix_attack_alloc_block(af, &arg->block);
	case HIX_ATTACK_IOPM_ORACLE:
		return hix_attack_iopm_oracle(&arg->iopm);
	case HIX_ATTACK_INIT_IPI:
		return hix_attack_init_ipi(&arg->init);
	case HIX_ATTACK_L2_ENCLAVE:
		return hix_attack_l2_enclave(&arg->l2);
	default:
		return -ENOTTY;
	}
}

static long hix_attack_ioctl(struct file *file, unsigned int cmd,
			     unsigned long uarg)
{
	void __user *user = u64_to_user_ptr((u64)uarg);
	union hix_attack_arg arg;
	size_t size = _IOC_SIZE(cmd);
	long ret;

	if (_IOC_TYPE(cmd) != HIX_ATTACK_IOC_MAGIC || size > sizeof(arg))
		return -ENOTTY;
	if (copy_from_user(&arg, user, size))
		return -EFAULT;
	ret = hix_attack_dispatch(file->private_data, cmd, &arg);
	if (!ret && (_IOC_DIR(cmd) & _IOC_READ) &&
	    copy_to_user(user, &arg, size))
		return -EFAULT;
	return ret;
}

static const struct file_operations hix_attack_fops = {
	.owner = THIS_MODULE,
	.open = hix_attack_open,
	.release = hix_attack_release,
	.unlocked_ioctl = hix_attack_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice hix_attack_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "hix-attack",
	.fops = &hix_attack_fops,
	.mode = 0600,
};

static int __init hix_attack_init(void)
{
	int ret = misc_register(&hix_attack_misc);

	if (!ret)
		pr_info("/dev/hix-attack ready (attack tests only)\n");
	return ret;
}

static void __exit hix_attack_exit(void)
{
	misc_deregister(&hix_attack_misc);
}

module_init(hix_attack_init);
module_exit(hix_attack_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("OpenHIX attack tests: an attacker's kernel primitives");
MODULE_AUTHOR("OpenHIX");
