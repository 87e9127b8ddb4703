// SPDX-License-Identifier: GPL-2.0
/*
 * hix.ko, the OS driver of the HIX ISA (docs/specs/hix-isa.md §11): /dev/hix
 * issues ENCLS for user processes, one enclave per open file, and hands out
 * DMA staging buffers (§11.1, hix_staging.c).
 *
 * Untrusted by design: it allocates the pages, runs the leaves and maps the
 * ELRANGE; the CPU decides who may use what. If the driver lies, an enclave's
 * measurement changes or the enclave fails closed.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bits.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <asm/processor.h>

#include "hix/abi/hix_ioctl.h"
#include "hix/abi/hix_isa.h"
#include "hix_enclave.h"
#include "hix_staging.h"

/* The ENCLS leaves this driver issues; the CPU must implement all of them. */
#define HIX_DRIVER_LEAVES                                      \
	(BIT(HIX_ECREATE) | BIT(HIX_EADD) | BIT(HIX_EEXTEND) | \
	 BIT(HIX_EINIT) | BIT(HIX_EDESTROY))
/*
 * EGLOCK (revision 1.1) is optional: without it HIX_IOC_GLOCK fails with
 * EOPNOTSUPP and everything else works.
 */
#define HIX_GLOCK_LEAF BIT(HIX_EGLOCK)

/* CPUID leaf HIX_CPUID_LEAF as read at load time, for HIX_IOC_INFO. */
static struct hix_ioc_info hix_cpu_info;

/* What an open file of /dev/hix holds (file->private_data). */
struct hix_file {
	struct hix_encl encl;
	/* Charged by the staging buffers made through this file. */
	struct hix_staging_quota *staging;
};

static int hix_open(struct inode *inode, struct file *file)
{
	struct hix_file *hf;

	hf = kzalloc(sizeof(*hf), GFP_KERNEL);
	if (!hf)
		return -ENOMEM;
	hf->staging = hix_staging_quota_new();
	if (!hf->staging) {
		kfree(hf);
		return -ENOMEM;
	}
	hix_encl_init(&hf->encl);
	file->private_data = hf;
	return 0;
}

static int hix_release(struct inode *inode, struct file *file)
{
	struct hix_file *hf = file->private_data;

	hix_encl_release(&hf->encl);
	/* Buffers still alive keep their own reference to the account. */
	hix_staging_quota_put(hf->staging);
	kfree(hf);
	return 0;
}

static long hix_ioc_create(struct hix_encl *encl, void __user *uarg)
{
	struct hix_ioc_create req;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	return hix_encl_create(encl, &req);
}

static long hix_ioc_add_pages(struct hix_encl *encl, void __user *uarg)
{
	struct hix_ioc_add_pages req;
	long ret;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	ret = hix_encl_add_pages(encl, &req);
	/* status and count are the caller's on failure too. */
	if (copy_to_user(uarg, &req, sizeof(req)))
		return -EFAULT;
	return ret;
}

static long hix_ioc_init(struct hix_encl *encl, void __user *uarg)
{
	struct hix_ioc_init req;
	long ret;

	ret = hix_encl_einit(encl, &req);
	if (ret == -ENXIO)
		return ret;
	if (copy_to_user(uarg, &req, sizeof(req)))
		return -EFAULT;
	return ret;
}

static long hix_ioc_glock(struct hix_encl *encl, void __user *uarg)
{
	struct hix_ioc_glock req;
	long ret;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	ret = hix_encl_glock(encl, &req,
			     hix_cpu_info.encls_leaves & HIX_GLOCK_LEAF);
	/* status is the caller's on failure too. */
	if (copy_to_user(uarg, &req, sizeof(req)))
		return -EFAULT;
	return ret;
}

static long hix_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct hix_file *hf = file->private_data;
	struct hix_encl *encl = &hf->encl;
	void __user *uarg = u64_to_user_ptr((u64)arg);

	switch (cmd) {
	case HIX_IOC_INFO:
		if (copy_to_user(uarg, &hix_cpu_info, sizeof(hix_cpu_info)))
			return -EFAULT;
		return 0;
	case HIX_IOC_CREATE:
		return hix_ioc_create(encl, uarg);
	case HIX_IOC_ADD_PAGES:
		return hix_ioc_add_pages(encl, uarg);
	case HIX_IOC_INIT:
		return hix_ioc_init(encl, uarg);
	case HIX_IOC_GLOCK:
		return hix_ioc_glock(encl, uarg);
	case HIX_IOC_DESTROY:
		return hix_encl_destroy(encl);
	case HIX_IOC_STAGING:
		return hix_staging_ioctl(hf->staging, uarg);
	default:
		return -ENOTTY;
	}
}

static int hix_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct hix_file *hf = file->private_data;

	return hix_encl_mmap(&hf->encl, vma);
}

static const struct file_operations hix_fops = {
	.owner = THIS_MODULE,
	.open = hix_open,
	.release = hix_release,
	.unlocked_ioctl = hix_ioctl,
	.mmap = hix_mmap,
	.llseek = noop_llseek,
};

static struct miscdevice hix_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "hix",
	.fops = &hix_fops,
	.mode = 0600,
};

static int __init hix_init(void)
{
	u32 eax, ebx, ecx, edx;
	int ret;

	cpuid(HIX_CPUID_LEAF, &eax, &ebx, &ecx, &edx);
	if (eax != HIX_CPUID_SIGNATURE) {
		pr_info("CPU lacks HIX (CPUID 0x%08x EAX=0x%08x)\n",
			HIX_CPUID_LEAF, eax);
		return -ENODEV;
	}
	if (ebx >> 16 != HIX_ISA_VERSION_MAJOR) {
		pr_info("CPU has HIX ISA revision %u.%u; this driver needs %u.x\n",
			ebx >> 16, ebx & 0xffff, HIX_ISA_VERSION_MAJOR);
		return -ENODEV;
	}
	if ((ecx & HIX_DRIVER_LEAVES) != HIX_DRIVER_LEAVES) {
		pr_info("CPU's HIX lacks ENCLS leaves this driver needs (CPUID ECX=0x%08x, needs 0x%08lx)\n",
			ecx, HIX_DRIVER_LEAVES);
		return -ENODEV;
	}

	hix_cpu_info.isa_version = ebx;
	hix_cpu_info.encls_leaves = ecx;
	hix_cpu_info.enclu_leaves = edx;
	hix_cpu_info.reserved = 0;

	ret = misc_register(&hix_misc);
	if (ret)
		return ret;
	pr_info("HIX ISA revision %u.%u, /dev/hix ready (EGLOCK: %s)\n",
		ebx >> 16, ebx & 0xffff, ecx & HIX_GLOCK_LEAF ? "yes" : "no");
	return 0;
}

static void __exit hix_exit(void)
{
	misc_deregister(&hix_misc);
}

module_init(hix_init);
module_exit(hix_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("OpenHIX: /dev/hix, the OS driver of the HIX ISA");
MODULE_AUTHOR("OpenHIX");
