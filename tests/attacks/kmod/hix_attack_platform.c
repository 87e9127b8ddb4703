// SPDX-License-Identifier: GPL-2.0
/*
 * hix_attack.ko's platform primitives (issue 17): the paths around the EPC
 * check that docs/specs/hix-isa.md §16 closes. Each is what root in the
 * guest can do on a stock q35 machine with a TCG "max" CPU.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/io.h>
#include <linux/irqflags.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <asm/asm.h>
#include <asm/msr.h>
#include <asm/processor.h>

#include "hix_attack_platform.h"

#define HIX_CPUID_LEAF 0x48580000u
#define HIX_CPUID_SIGNATURE 0x48495831u /* "HIX1" */
#define HIX_PAGE_BYTES 4096u

long hix_attack_msr(struct hix_attack_msr *req, bool write)
{
	u64 value = 0;

	if (write) {
		req->err = wrmsrl_safe(req->msr, req->value);
	} else {
		req->err = rdmsrl_safe(req->msr, &value);
		req->value = value;
	}
	return 0;
}

long hix_attack_vmrun(struct hix_attack_vmrun *req)
{
	struct page *vmcb;
	unsigned long flags;
	u64 efer, now = 0, old_hsave = 0;
	int fault = 1;

	if (req->hsave_phys & (HIX_PAGE_BYTES - 1))
		return -EINVAL;
	vmcb = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!vmcb)
		return -ENOMEM;
	req->vmcb_phys = page_to_phys(vmcb);
	local_irq_save(flags);
	rdmsrl(MSR_EFER, efer);
	req->svme = !wrmsrl_safe(MSR_EFER, efer | EFER_SVME) &&
		    !rdmsrl_safe(MSR_EFER, &now) && (now & EFER_SVME);
	if (req->svme) {
		if (rdmsrl_safe(MSR_VM_HSAVE_PA, &old_hsave))
			old_hsave = 0;
		if (wrmsrl_safe(MSR_VM_HSAVE_PA, req->hsave_phys))
			req->svme = 0;
	}
	/* Without SVME (or without SVM) VMRUN raises #UD: fixed up here. */
	asm volatile("1: vmrun %%rax\n\t"
		     "movl $0, %0\n"
		     "2:\n" _ASM_EXTABLE(1b, 2b)
		     : "+r"(fault)
		     : "a"(req->vmcb_phys)
		     : "memory", "cc");
	req->vmrun = !fault;
	if (req->vmrun)
		asm volatile("stgi" ::: "memory"); /* #VMEXIT cleared GIF */
	if (now & EFER_SVME) {
		wrmsrl_safe(MSR_VM_HSAVE_PA, old_hsave);
		wrmsrl(MSR_EFER, efer);
	}
	local_irq_restore(flags);
	__free_page(vmcb);
	return 0;
}

long hix_attack_smi(const struct hix_attack_smi *req)
{
	unsigned long flags;

	local_irq_save(flags);
	/*
	 * The SMI is taken at the next instruction boundary QEMU checks: the
	 * jump ends the translation block while R12-R15 still hold the marker.
	 */
	asm volatile("mov %0, %%r12\n\t"
		     "mov %0, %%r13\n\t"
		     "mov %0, %%r14\n\t"
		     "mov %0, %%r15\n\t"
		     "outb %%al, $0xb2\n\t"
		     "jmp 1f\n"
		     "1:\n\t"
		     "nop\n\t"
		     "nop\n\t"
		     :
		     : "r"(req->marker), "a"(req->cmd)
		     : "r12", "r13", "r14", "r15", "memory");
	local_irq_restore(flags);
	return 0;
}

long hix_attack_phys_io(const struct hix_attack_phys_rw *req, bool write)
{
	void __user *user = u64_to_user_ptr(req->user_buf);
	void __iomem *map;
	void *buf;
	long ret = 0;

	if (!req->len || req->len > PAGE_SIZE ||
	    offset_in_page(req->phys) + req->len > PAGE_SIZE ||
	    req->phys >> boot_cpu_data.x86_phys_bits)
		return -EINVAL;
	if (page_is_ram(PHYS_PFN(req->phys)))
		return -EINVAL; /* RAM: READ/WRITE_PHYS_DIRECT */
	buf = kmalloc(req->len, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	map = ioremap(req->phys & PAGE_MASK, PAGE_SIZE);
	if (!map) {
		kfree(buf);
		return -ENOMEM;
	}
	if (write) {
		if (copy_from_user(buf, user, req->len))
			ret = -EFAULT;
		else
			memcpy_toio(map + offset_in_page(req->phys), buf,
				    req->len);
	} else {
		memcpy_fromio(buf, map + offset_in_page(req->phys), req->len);
		if (copy_to_user(user, buf, req->len))
			ret = -EFAULT;
	}
	iounmap(map);
	kfree(buf);
	return ret;
}

static bool hix_attack_cpu_has_hix(void)
{
	return cpuid_eax(HIX_CPUID_LEAF) == HIX_CPUID_SIGNATURE;
}

static u64 hix_attack_encls_raw(u64 leaf, u64 rbx, u64 rcx, u64 rdx)
{
	u64 rax = leaf;

	asm volatile(".byte 0x0f, 0x01, 0xcf" /* ENCLS */
		     : "+a"(rax)
		     : "b"(rbx), "c"(rcx), "d"(rdx)
		     : "memory", "cc");
	return rax;
}

/* Layouts of include/hix/abi/hix_isa.h, repeated: the module builds alone. */
struct hix_attack_secs_params {
	u64 base, size, attributes, reserved[5];
};

struct hix_attack_pageinfo {
	u64 src, linaddr, flags, reserved;
};

long hix_attack_encls(struct hix_attack_encls *req)
{
	struct hix_attack_secs_params *secs = NULL;
	struct hix_attack_pageinfo *pi = NULL;
	void *page = NULL;
	u64 rbx = 0;
	long ret = 0;

	if (!hix_attack_cpu_has_hix())
		return -ENODEV; /* ENCLS would raise #UD */
	switch (req->leaf) {
	case 0: /* ECREATE */
		secs = kzalloc(sizeof(*secs), GFP_KERNEL);
		if (!secs)
			return -ENOMEM;
		secs->base = req->a;
		secs->size = req->b;
		rbx = (u64)secs;
		break;
	case 1: /* EADD */
		pi = kzalloc(sizeof(*pi), GFP_KERNEL);
		page = kmalloc(HIX_PAGE_BYTES, GFP_KERNEL);
		if (!pi || !page) {
			ret = -ENOMEM;
			goto out;
		}
		if (copy_from_user(page, u64_to_user_ptr(req->src),
				   HIX_PAGE_BYTES)) {
			ret = -EFAULT;
			goto out;
		}
		pi->src = (u64)page;
		pi->linaddr = req->a;
		pi->flags = req->b;
		rbx = (u64)pi;
		break;
	case 4: /* EREMOVE */
	case 5: /* EDESTROY */
		break;
	default:
		return -EINVAL;
	}
	req->status =
		(u32)hix_attack_encls_raw(req->leaf, rbx, req->rcx, req->rdx);
out:
	kfree(page);
	kfree(pi);
	kfree(secs);
	return ret;
}
