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
#include <asm/apic.h>
#include <asm/asm.h>
#include <asm/debugreg.h>
#include <asm/desc.h>
#include <asm/fpu/api.h>
#include <asm/msr.h>
#include <asm/processor.h>
#include <asm/segment.h>
#include <asm/smp.h>
#include <asm/svm.h>
#include <asm/tlbflush.h>

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

/* SVM on this CPU for the caller's VMRUNs (interrupts off): EFER.SVME set
 * and read back, VM_HSAVE_PA pointed at hsave_pa, the old values kept for
 * hix_attack_svm_off. */
struct hix_attack_svm {
	u64 efer; /* EFER before */
	u64 svm_efer; /* EFER as read back after setting SVME */
	u64 old_hsave;
};

/* Whether SVME stuck and the host-save area took. */
static bool hix_attack_svm_on(struct hix_attack_svm *s, u64 hsave_pa)
{
	bool on;

	s->svm_efer = 0;
	s->old_hsave = 0;
	rdmsrl(MSR_EFER, s->efer);
	on = !wrmsrl_safe(MSR_EFER, s->efer | EFER_SVME) &&
	     !rdmsrl_safe(MSR_EFER, &s->svm_efer) && (s->svm_efer & EFER_SVME);
	if (on) {
		if (rdmsrl_safe(MSR_VM_HSAVE_PA, &s->old_hsave))
			s->old_hsave = 0;
		if (wrmsrl_safe(MSR_VM_HSAVE_PA, hsave_pa))
			on = false;
	}
	return on;
}

static void hix_attack_svm_off(const struct hix_attack_svm *s)
{
	if (s->svm_efer & EFER_SVME) {
		wrmsrl_safe(MSR_VM_HSAVE_PA, s->old_hsave);
		wrmsrl(MSR_EFER, s->efer);
	}
}

long hix_attack_vmrun(struct hix_attack_vmrun *req)
{
	struct page *vmcb;
	unsigned long flags;
	struct hix_attack_svm svm;
	int fault = 1;

	if (req->hsave_phys & (HIX_PAGE_BYTES - 1))
		return -EINVAL;
	vmcb = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!vmcb)
		return -ENOMEM;
	req->vmcb_phys = page_to_phys(vmcb);
	local_irq_save(flags);
	req->svme = hix_attack_svm_on(&svm, req->hsave_phys);
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
	hix_attack_svm_off(&svm);
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
	case 3: /* EINIT */
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

/*
 * The IOPM oracle's nested guest: IN from the port in EAX, then HLT. Kernel
 * text, run at CPL0 with the caller's page tables (no nested paging).
 */
void hix_attack_l2_in_stub(void);
asm(".pushsection .text\n"
    ".globl hix_attack_l2_in_stub\n"
    ".type hix_attack_l2_in_stub, @function\n"
    "hix_attack_l2_in_stub:\n\t"
    "movl %eax, %edx\n\t"
    "inb %dx, %al\n\t"
    "hlt\n\t"
    "ud2\n"
    ".size hix_attack_l2_in_stub, . - hix_attack_l2_in_stub\n"
    ".popsection");

#define HIX_ATTACK_IOPM_MAX_PORTS 512u
#define HIX_ATTACK_SEG_LIMIT 0xffffffffu
#define HIX_ATTACK_DR7_RESET 0x400u /* the value after reset */

static void hix_attack_intercept(struct vmcb *vmcb, unsigned int bit)
{
	vmcb->control.intercepts[bit / 32] |= 1u << (bit % 32);
}

/* A VMCB that runs the stub on `port` as a 64-bit CPL0 guest. */
static void hix_attack_l2_vmcb(struct vmcb *vmcb, u64 iopm_base, u16 port,
			       u64 efer, u64 stack_top)
{
	struct desc_ptr gdt, idt;

	memset(vmcb, 0, sizeof(*vmcb));
	/* Every exception and a shutdown exit too: nothing runs the L2 IDT. */
	vmcb->control.intercepts[INTERCEPT_EXCEPTION_OFFSET / 32] = ~0u;
	hix_attack_intercept(vmcb, INTERCEPT_IOIO_PROT);
	hix_attack_intercept(vmcb, INTERCEPT_HLT);
	hix_attack_intercept(vmcb, INTERCEPT_SHUTDOWN);
	hix_attack_intercept(vmcb, INTERCEPT_VMRUN); /* required by VMRUN */
	vmcb->control.iopm_base_pa = iopm_base;
	vmcb->control.asid = 1;

	native_store_gdt(&gdt);
	store_idt(&idt);
	vmcb->save.cs.selector = __KERNEL_CS;
	vmcb->save.cs.attrib = SVM_SELECTOR_P_MASK | SVM_SELECTOR_S_MASK |
			       SVM_SELECTOR_L_MASK | SVM_SELECTOR_G_MASK |
			       SVM_SELECTOR_CODE_MASK | SVM_SELECTOR_READ_MASK;
	vmcb->save.cs.limit = HIX_ATTACK_SEG_LIMIT;
	vmcb->save.ss.selector = __KERNEL_DS;
	vmcb->save.ss.attrib = SVM_SELECTOR_P_MASK | SVM_SELECTOR_S_MASK |
			       SVM_SELECTOR_DB_MASK | SVM_SELECTOR_G_MASK |
			       SVM_SELECTOR_WRITE_MASK;
	vmcb->save.ss.limit = HIX_ATTACK_SEG_LIMIT;
	vmcb->save.gdtr.base = gdt.address;
	vmcb->save.gdtr.limit = gdt.size;
	vmcb->save.idtr.base = idt.address;
	vmcb->save.idtr.limit = idt.size;
	vmcb->save.cpl = 0;
	vmcb->save.efer = efer;
	vmcb->save.cr0 = read_cr0();
	vmcb->save.cr3 = __read_cr3();
	vmcb->save.cr4 = __read_cr4();
	vmcb->save.dr7 = HIX_ATTACK_DR7_RESET;
	vmcb->save.dr6 = DR6_RESERVED;
	vmcb->save.rflags = X86_EFLAGS_FIXED; /* IF clear */
	vmcb->save.rip = (u64)hix_attack_l2_in_stub;
	vmcb->save.rsp = stack_top;
	vmcb->save.rax = port;
}

long hix_attack_iopm_oracle(struct hix_attack_iopm_oracle *req)
{
	struct page *vmcb_page, *hsave, *stack;
	struct vmcb *vmcb;
	unsigned long flags;
	struct hix_attack_svm svm;
	u64 vmcb_pa;
	unsigned int i;
	int fault;

	if (!req->nports || req->nports > HIX_ATTACK_IOPM_MAX_PORTS ||
	    req->reserved)
		return -EINVAL;
	memset(req->exits, 0, sizeof(req->exits));
	req->svme = 0;
	req->vmruns = 0;
	req->other_exits = 0;
	req->last_other = 0;
	vmcb_page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	hsave = alloc_page(GFP_KERNEL | __GFP_ZERO);
	stack = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!vmcb_page || !hsave || !stack) {
		if (vmcb_page)
			__free_page(vmcb_page);
		if (hsave)
			__free_page(hsave);
		if (stack)
			__free_page(stack);
		return -ENOMEM;
	}
	vmcb = page_address(vmcb_page);
	vmcb_pa = page_to_phys(vmcb_page);
	local_irq_save(flags);
	req->svme = hix_attack_svm_on(&svm, page_to_phys(hsave));
	for (i = 0; i < req->nports; i++) {
		u16 port = req->first_port + i;
		u64 code;

		hix_attack_l2_vmcb(vmcb, req->iopm_base, port, svm.svm_efer,
				   (u64)page_address(stack) + PAGE_SIZE);
		fault = 1;
		/* Without SVM VMRUN raises #UD: fixed up, and the loop ends. */
		asm volatile("1: vmrun %%rax\n\t"
			     "movl $0, %0\n"
			     "2:\n" _ASM_EXTABLE(1b, 2b)
			     : "+r"(fault), "+a"(vmcb_pa)
			     :
			     : "rdx", "memory", "cc");
		if (fault)
			break;
		asm volatile("stgi" ::: "memory"); /* #VMEXIT cleared GIF */
		req->vmruns++;
		code = vmcb->control.exit_code;
		if (code == SVM_EXIT_IOIO) {
			req->exits[i / 8] |= (u8)(1u << (i % 8));
		} else if (code != SVM_EXIT_HLT) {
			req->other_exits++;
			req->last_other = (u32)code;
		}
	}
	hix_attack_svm_off(&svm);
	local_irq_restore(flags);
	__free_page(stack);
	__free_page(hsave);
	__free_page(vmcb_page);
	return 0;
}

long hix_attack_init_ipi(struct hix_attack_init_ipi *req)
{
	unsigned long flags;
	int self = get_cpu();
	long ret = 0;

	if (req->cpu >= nr_cpu_ids || !cpu_online(req->cpu) ||
	    req->cpu == (u32)self) {
		ret = -EINVAL;
		goto out;
	}
	req->apic_id = per_cpu(x86_cpu_to_apicid, req->cpu);
	local_irq_save(flags);
	apic_icr_write(APIC_INT_ASSERT | APIC_DM_INIT, req->apic_id);
	local_irq_restore(flags);
out:
	put_cpu();
	return ret;
}

/*
 * An enclave's thread as an L2 guest (docs/specs/hix-isa.md §16.3). ENCLU
 * runs at CPL3, so the L2 is a user thread of the caller: its page tables
 * (the user half under page-table isolation: the kernel's copy of user
 * memory is not executable), the user code and data segments.
 */
static void hix_attack_l2_user_vmcb(struct vmcb *vmcb, u64 efer, u64 rip,
				    u64 rsp)
{
	struct desc_ptr gdt, idt;
	u64 cr3 = __read_cr3() & CR3_ADDR_MASK;

#ifdef CONFIG_PAGE_TABLE_ISOLATION
	if (boot_cpu_has(X86_FEATURE_PTI))
		cr3 |= 1ull << PAGE_SHIFT; /* the user page-table half */
#endif
	memset(vmcb, 0, sizeof(*vmcb));
	/* Every exception and a shutdown exit: nothing runs the L2 IDT. */
	vmcb->control.intercepts[INTERCEPT_EXCEPTION_OFFSET / 32] = ~0u;
	hix_attack_intercept(vmcb, INTERCEPT_HLT);
	hix_attack_intercept(vmcb, INTERCEPT_SHUTDOWN);
	hix_attack_intercept(vmcb, INTERCEPT_VMRUN); /* required by VMRUN */
	vmcb->control.asid = 1;

	native_store_gdt(&gdt);
	store_idt(&idt);
	vmcb->save.cs.selector = __USER_CS;
	vmcb->save.cs.attrib = SVM_SELECTOR_P_MASK | SVM_SELECTOR_S_MASK |
			       SVM_SELECTOR_DPL_MASK | SVM_SELECTOR_L_MASK |
			       SVM_SELECTOR_G_MASK | SVM_SELECTOR_CODE_MASK |
			       SVM_SELECTOR_READ_MASK;
	vmcb->save.cs.limit = HIX_ATTACK_SEG_LIMIT;
	vmcb->save.ss.selector = __USER_DS;
	vmcb->save.ss.attrib = SVM_SELECTOR_P_MASK | SVM_SELECTOR_S_MASK |
			       SVM_SELECTOR_DPL_MASK | SVM_SELECTOR_DB_MASK |
			       SVM_SELECTOR_G_MASK | SVM_SELECTOR_WRITE_MASK;
	vmcb->save.ss.limit = HIX_ATTACK_SEG_LIMIT;
	vmcb->save.gdtr.base = gdt.address;
	vmcb->save.gdtr.limit = gdt.size;
	vmcb->save.idtr.base = idt.address;
	vmcb->save.idtr.limit = idt.size;
	vmcb->save.cpl = 3;
	vmcb->save.efer = efer;
	vmcb->save.cr0 = read_cr0();
	vmcb->save.cr3 = cr3;
	vmcb->save.cr4 = __read_cr4();
	vmcb->save.dr7 = HIX_ATTACK_DR7_RESET;
	vmcb->save.dr6 = DR6_RESERVED;
	vmcb->save.rflags = X86_EFLAGS_FIXED; /* IF clear */
	vmcb->save.rip = rip;
	vmcb->save.rsp = rsp;
}

/* What the L2 starts with besides the VMCB, and what it left behind. */
struct hix_attack_l2_regs {
	u64 vmcb_pa; /* 0 */
	u64 rbx, rsi, rdi; /* 8, 16, 24: the L2's at VMRUN */
	u64 out[16]; /* 32: RAX..R15 right after #VMEXIT */
	u8 xmm0[16]; /* 160 */
};

/*
 * VMRUN with the L2's RBX, RSI, RDI; after #VMEXIT every general register
 * but RAX and RSP (reloaded from the host-save area) is still the L2's:
 * they are stored before anything else runs, then the host's callee-saved
 * ones come back from the stack.
 */
static void hix_attack_l2_run(struct hix_attack_l2_regs *r)
{
	asm volatile("push %%rbp\n\t"
		     "push %%rbx\n\t"
		     "push %%r12\n\t"
		     "push %%r13\n\t"
		     "push %%r14\n\t"
		     "push %%r15\n\t"
		     "push %%rdi\n\t"
		     "mov 8(%%rdi), %%rbx\n\t"
		     "mov 16(%%rdi), %%rsi\n\t"
		     "mov 0(%%rdi), %%rax\n\t"
		     "mov 24(%%rdi), %%rdi\n\t"
		     "vmrun %%rax\n\t"
		     "xchg %%rdi, (%%rsp)\n\t"
		     "mov %%rax, 32(%%rdi)\n\t"
		     "mov %%rbx, 40(%%rdi)\n\t"
		     "mov %%rcx, 48(%%rdi)\n\t"
		     "mov %%rdx, 56(%%rdi)\n\t"
		     "mov %%rsi, 64(%%rdi)\n\t"
		     "mov %%rbp, 80(%%rdi)\n\t"
		     "mov %%rsp, 88(%%rdi)\n\t"
		     "mov %%r8, 96(%%rdi)\n\t"
		     "mov %%r9, 104(%%rdi)\n\t"
		     "mov %%r10, 112(%%rdi)\n\t"
		     "mov %%r11, 120(%%rdi)\n\t"
		     "mov %%r12, 128(%%rdi)\n\t"
		     "mov %%r13, 136(%%rdi)\n\t"
		     "mov %%r14, 144(%%rdi)\n\t"
		     "mov %%r15, 152(%%rdi)\n\t"
		     "movdqu %%xmm0, 160(%%rdi)\n\t"
		     "pop %%rax\n\t"
		     "mov %%rax, 72(%%rdi)\n\t"
		     "pop %%r15\n\t"
		     "pop %%r14\n\t"
		     "pop %%r13\n\t"
		     "pop %%r12\n\t"
		     "pop %%rbx\n\t"
		     "pop %%rbp\n\t"
		     "stgi" /* #VMEXIT cleared GIF */
		     : "+D"(r)
		     :
		     : "rax", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11",
		       "memory", "cc"); /* XMM0: kernel C never uses it */
}

long hix_attack_l2_enclave(struct hix_attack_l2_enclave *req)
{
	struct hix_attack_l2_regs *regs;
	struct page *vmcb_page, *hsave;
	struct vmcb *vmcb;
	unsigned long flags;
	struct hix_attack_svm svm;
	int fault = 1;

	regs = kzalloc(sizeof(*regs), GFP_KERNEL);
	vmcb_page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	hsave = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!regs || !vmcb_page || !hsave) {
		if (vmcb_page)
			__free_page(vmcb_page);
		if (hsave)
			__free_page(hsave);
		kfree(regs);
		return -ENOMEM;
	}
	vmcb = page_address(vmcb_page);
	regs->vmcb_pa = page_to_phys(vmcb_page);
	req->svme = 0;
	req->vmrun_ud = 0;
	req->exit_code = 0;
	req->eexit_code = 0;
	/* The enclave leaves its XMM0 behind: the caller's FPU state is saved
	 * first and reloaded on the way back to user mode. */
	kernel_fpu_begin();
	local_irq_save(flags);
	req->svme = hix_attack_svm_on(&svm, page_to_phys(hsave));
	if (!req->svme) {
		/* Nothing to run; what does VMRUN do? (#UD: fixed up here.) */
		asm volatile("1: vmrun %%rax\n\t"
			     "movl $0, %0\n"
			     "2:\n" _ASM_EXTABLE(1b, 2b)
			     : "+r"(fault)
			     : "a"(regs->vmcb_pa)
			     : "memory", "cc");
		req->vmrun_ud = fault;
		if (!fault)
			asm volatile("stgi" ::: "memory");
		goto restore;
	}
	hix_attack_l2_user_vmcb(vmcb, svm.svm_efer, req->rip, req->rsp);
	regs->rbx = req->rbx;
	regs->rsi = req->rsi;
	regs->rdi = req->rdi;
	hix_attack_l2_run(regs);
	req->exit_code = vmcb->control.exit_code;
	req->vmcb_rax = vmcb->save.rax;
	req->vmcb_rsp = vmcb->save.rsp;
	req->vmcb_rip = vmcb->save.rip;
	memcpy(req->gprs, regs->out, sizeof(req->gprs));
	memcpy(req->xmm0, regs->xmm0, sizeof(req->xmm0));
	if (req->eexit_rip) {
		hix_attack_l2_user_vmcb(vmcb, svm.svm_efer, req->eexit_rip,
					req->rsp);
		memset(regs->out, 0, sizeof(regs->out));
		regs->rbx = req->eexit_rbx;
		regs->rsi = 0;
		regs->rdi = 0;
		hix_attack_l2_run(regs);
		req->eexit_code = vmcb->control.exit_code;
	}
restore:
	hix_attack_svm_off(&svm);
	local_irq_restore(flags);
	kernel_fpu_end();
	memzero_explicit(regs, sizeof(*regs));
	kfree(regs);
	__free_page(hsave);
	__free_page(vmcb_page);
	return 0;
}
