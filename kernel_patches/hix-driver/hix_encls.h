/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ENCLS, the HIX supervisor instruction (docs/specs/hix-isa.md §2, §2.1):
 * EAX = leaf, RBX/RCX/RDX = operands, status back in RAX.
 */
#ifndef HIX_ENCLS_H
#define HIX_ENCLS_H

#include <linux/errno.h>
#include <linux/types.h>
#include <asm/asm.h>
#include <asm/sgx.h>

#include "hix/abi/hix_isa.h"

/*
 * A fault raised by ENCLS itself (#GP, #PF on an operand) is not an oops: the
 * exception-table entry resumes after the instruction with RAX = trap number
 * | this flag, which no status code (§8) has.
 */
#define HIX_ENCLS_FAULT_FLAG SGX_ENCLS_FAULT_FLAG

/*
 * Runs ENCLS leaf @leaf and returns what the CPU left in RAX: an enum
 * hix_status, or HIX_ENCLS_FAULT_FLAG | trap number.
 */
static inline u64 hix_encls(enum hix_encls_leaf leaf, u64 rbx, u64 rcx, u64 rdx)
{
	u64 rax = leaf;

	/*
	 * Opcode bytes because binutils knows 0F 01 CF only as SGX's ENCLS;
	 * volatile + "memory" because the CPU reads our operand structures and
	 * rewrites whole pages behind the compiler's back. EX_TYPE_FAULT_SGX is
	 * the kernel's generic "trap number | flag into RAX" fixup.
	 */
	asm volatile("1: .byte 0x0f, 0x01, 0xcf\n"
		     "2:\n" _ASM_EXTABLE_TYPE(1b, 2b, EX_TYPE_FAULT_SGX)
		     : "+a"(rax)
		     : "b"(rbx), "c"(rcx), "d"(rdx)
		     : "memory", "cc");
	return rax;
}

/* The errno an ioctl returns for an ENCLS result. */
static inline long hix_encls_errno(u64 status)
{
	if (status == HIX_OK)
		return 0;
	if (status & HIX_ENCLS_FAULT_FLAG)
		return -EIO;
	return -EINVAL;
}

#endif /* HIX_ENCLS_H */
