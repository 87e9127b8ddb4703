/* SPDX-License-Identifier: GPL-2.0 */
/*
 * /dev/hix-attack, the attacker's kernel module (hix_attack.ko): root in the
 * guest is the attacker (docs/architecture.md §3) and gets these primitives
 * to aim at enclave memory and locked BARs. Shared by the module and the C++
 * attack programs; docs/kernel-driver.md has the details.
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

/* MSR access (rdmsrl_safe/wrmsrl_safe): err = 0, or the fault's errno. */
struct hix_attack_msr {
	uint32_t msr;
	int32_t err; /* out */
	uint64_t value; /* out for RDMSR, in for WRMSR */
};

/* SVM (docs/specs/hix-isa.md §16.3): set EFER.SVME and VM_HSAVE_PA, then
 * VMRUN a zeroed VMCB (QEMU saves the host state into the host-save page
 * with physical writes, then exits with VMEXIT_INVALID), STGI, restore. */
struct hix_attack_vmrun {
	uint64_t hsave_phys; /* in: 4 KiB aligned */
	int32_t svme; /* out: 1 when EFER.SVME could be set */
	int32_t vmrun; /* out: 1 when VMRUN ran (and exited), 0 when it faulted */
	uint64_t vmcb_phys; /* out: the zeroed VMCB the module used */
};

/* Raise an SMI through the APM control port (0xB2) with `marker` in
 * R12-R15, so a save-state area that received it can be recognised. */
struct hix_attack_smi {
	uint64_t marker;
	uint8_t cmd; /* the value written to 0xB2 */
	uint8_t reserved[7];
};

/* ENCLS from the kernel with operands of the caller's choosing: what a
 * malicious OS can do without hix.ko (it picks every physical page). */
struct hix_attack_encls {
	uint32_t leaf; /* HIX_ECREATE (0), HIX_EADD (1), HIX_EINIT (3), HIX_EREMOVE (4),
			* HIX_EDESTROY (5) */
	uint32_t status; /* out: RAX */
	uint64_t rcx; /* ECREATE: SECS phys; EADD: target phys; EREMOVE: page phys */
	uint64_t rdx; /* EADD, EINIT, EDESTROY: SECS phys */
	uint64_t a; /* ECREATE: ELRANGE base; EADD: linear address */
	uint64_t b; /* ECREATE: ELRANGE size; EADD: flags */
	uint64_t src; /* EADD: the caller's 4096 bytes of contents */
};

/* A naturally aligned block of 2^order zeroed kernel pages (attacker RAM),
 * kept until this file is closed. */
struct hix_attack_block {
	uint32_t order; /* 0..4 */
	uint32_t reserved;
	uint64_t phys; /* out */
};

/* SVM's I/O permission map as a read oracle (docs/specs/hix-isa.md §16.3):
 * for each port, VMRUN an L2 stub (kernel text, the caller's page tables)
 * that executes IN on it with IOIO intercepted and the IOPM at iopm_base.
 * QEMU reads the map with physical loads: a port whose bit is set exits
 * with IOIO, the others reach HLT, so the exits spell out the bits at
 * iopm_base + port / 8. */
struct hix_attack_iopm_oracle {
	uint64_t iopm_base; /* in: any physical address */
	uint16_t first_port; /* in */
	uint16_t nports; /* in: 1..512 */
	int32_t svme; /* out: 1 when EFER.SVME could be set */
	uint32_t vmruns; /* out: VMRUNs that ran (0: VMRUN raised #UD) */
	uint32_t other_exits; /* out: exits that were neither IOIO nor HLT */
	uint32_t last_other; /* out: the last such exit code */
	uint32_t reserved;
	uint8_t exits[64]; /* out: bit i set = port first_port + i exited */
};

/* An INIT IPI to another CPU through the local APIC's ICR. The CPU that
 * takes it waits for a SIPI from then on: Linux loses it for good. */
struct hix_attack_init_ipi {
	uint32_t cpu; /* in: Linux's CPU number, not the caller's */
	uint32_t apic_id; /* out */
};

/* SVM's exit path around the enclave-exit hook (docs/specs/hix-isa.md
 * §16.3): VMRUN an L2 guest at CPL3 in the caller's address space (its
 * page tables, user segments), every exception intercepted. The L2 starts
 * at rip with rsp, and RBX, RSI, RDI as given (the caller's code enters an
 * enclave there); whatever exception ends it leaves through #VMEXIT. The
 * general registers right after VMRUN returns (the L2's, but RAX and RSP,
 * which #VMEXIT reloads), XMM0, and the VMCB's RAX, RSP and RIP are
 * returned. If eexit_rip is not 0, a second VMRUN starts the L2 there with
 * RBX = eexit_rbx (the caller's EEXIT code: a vCPU that left the enclave
 * through #VMEXIT is still in enclave mode) and its exit code is returned.
 * Without SVM (EFER.SVME does not stick) nothing runs: svme = 0, and
 * vmrun_ud tells whether VMRUN raised #UD. */
struct hix_attack_l2_enclave {
	uint64_t rip; /* in: the L2's first instruction (user text) */
	uint64_t rsp; /* in: the L2's stack (user memory) */
	uint64_t rbx; /* in */
	uint64_t rsi; /* in */
	uint64_t rdi; /* in */
	uint64_t eexit_rip; /* in: 0, or the clean-up L2's first instruction */
	uint64_t eexit_rbx; /* in */
	int32_t svme; /* out: 1 when EFER.SVME could be set */
	int32_t vmrun_ud; /* out: 1 when VMRUN raised #UD */
	uint64_t exit_code; /* out: the first #VMEXIT's code */
	uint64_t vmcb_rax; /* out: the VMCB save area after it */
	uint64_t vmcb_rsp; /* out */
	uint64_t vmcb_rip; /* out */
	/* out: RAX RBX RCX RDX RSI RDI RBP RSP R8-R15 after the first VMRUN */
	uint64_t gprs[16];
	uint8_t xmm0[16]; /* out */
	uint64_t eexit_code; /* out: the clean-up's #VMEXIT code, or 0 */
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

/* MSRs. */
#define HIX_ATTACK_RDMSR \
	_IOWR(HIX_ATTACK_IOC_MAGIC, 0x08, struct hix_attack_msr)
#define HIX_ATTACK_WRMSR \
	_IOWR(HIX_ATTACK_IOC_MAGIC, 0x09, struct hix_attack_msr)
/* EFER.SVME + VMRUN (struct hix_attack_vmrun). */
#define HIX_ATTACK_VMRUN \
	_IOWR(HIX_ATTACK_IOC_MAGIC, 0x0A, struct hix_attack_vmrun)
/* SMI through port 0xB2. */
#define HIX_ATTACK_SMI _IOW(HIX_ATTACK_IOC_MAGIC, 0x0B, struct hix_attack_smi)
/* Read/write physical memory that is not System RAM (legacy areas, MMIO) through ioremap, any length within one page. */
#define HIX_ATTACK_READ_PHYS_IO \
	_IOW(HIX_ATTACK_IOC_MAGIC, 0x0C, struct hix_attack_phys_rw)
#define HIX_ATTACK_WRITE_PHYS_IO \
	_IOW(HIX_ATTACK_IOC_MAGIC, 0x0D, struct hix_attack_phys_rw)
/* Raw ENCLS (struct hix_attack_encls). */
#define HIX_ATTACK_ENCLS \
	_IOWR(HIX_ATTACK_IOC_MAGIC, 0x0E, struct hix_attack_encls)
/* Allocate an aligned block of attacker RAM. */
#define HIX_ATTACK_ALLOC_BLOCK \
	_IOWR(HIX_ATTACK_IOC_MAGIC, 0x0F, struct hix_attack_block)

/* The IOPM oracle (struct hix_attack_iopm_oracle). */
#define HIX_ATTACK_IOPM_ORACLE \
	_IOWR(HIX_ATTACK_IOC_MAGIC, 0x10, struct hix_attack_iopm_oracle)
/* INIT IPI (struct hix_attack_init_ipi). */
#define HIX_ATTACK_INIT_IPI \
	_IOWR(HIX_ATTACK_IOC_MAGIC, 0x11, struct hix_attack_init_ipi)
/* An enclave's thread as an SVM L2 guest (struct hix_attack_l2_enclave). */
#define HIX_ATTACK_L2_ENCLAVE \
	_IOWR(HIX_ATTACK_IOC_MAGIC, 0x12, struct hix_attack_l2_enclave)

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
HIX_ATTACK_STATIC_ASSERT(sizeof(struct hix_attack_msr) == 16, "ABI");
HIX_ATTACK_STATIC_ASSERT(sizeof(struct hix_attack_vmrun) == 24, "ABI");
HIX_ATTACK_STATIC_ASSERT(sizeof(struct hix_attack_smi) == 16, "ABI");
HIX_ATTACK_STATIC_ASSERT(sizeof(struct hix_attack_encls) == 48, "ABI");
HIX_ATTACK_STATIC_ASSERT(sizeof(struct hix_attack_block) == 16, "ABI");
HIX_ATTACK_STATIC_ASSERT(sizeof(struct hix_attack_iopm_oracle) == 96, "ABI");
HIX_ATTACK_STATIC_ASSERT(sizeof(struct hix_attack_init_ipi) == 8, "ABI");
HIX_ATTACK_STATIC_ASSERT(sizeof(struct hix_attack_l2_enclave) == 248, "ABI");

#endif /* HIX_ATTACK_ABI_H */
