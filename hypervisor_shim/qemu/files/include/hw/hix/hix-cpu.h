/*
 * OpenHIX: the hooks in QEMU's x86 TCG code (docs/specs/hix-isa.md §1-§5).
 * Target-specific; each is called from exactly one place in QEMU (but
 * hix_x86_hold_interrupts: two, interrupts and INIT).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_HIX_HIX_CPU_H
#define HW_HIX_HIX_CPU_H

#include "cpu.h"

/* cpu_x86_cpuid: answers the HIX leaf; false for every other leaf. */
bool hix_x86_cpuid(uint32_t index, uint32_t *eax, uint32_t *ebx, uint32_t *ecx,
                   uint32_t *edx);

/* x86_cpu_tlb_fill, after a successful page walk: applies the EPC checks and
 * installs the translation. Returns false only for a probe that must fail. */
bool hix_x86_tlb_install(CPUState *cs, vaddr addr, MMUAccessType access_type,
                         int mmu_idx, hwaddr paddr, int prot, int page_size,
                         MemTxAttrs attrs, bool probe, uintptr_t retaddr);

/* x86_cpu_tlb_fill, after a failed page walk (not a probe): inside an
 * enclave this aborts it (no #PF, no CR2) and does not return. */
void hix_x86_tlb_fault(CPUState *cs, vaddr addr, MMUAccessType access_type,
                       uintptr_t retaddr);

/* x86_cpu_exec_interrupt, and cpu_handle_interrupt for INIT: true while the
 * vCPU is in enclave mode (interrupts, NMIs and INIT are held, spec §3,
 * §16.6). With an enforcing platform it also discards a pending SMI: the
 * platform has no SMM (§16.4); without one, a pending INIT is not held
 * (§16.6 is off with the rest of §16). */
bool hix_x86_hold_interrupts(CPUState *cs);

/* do_interrupt_all: an exception or software interrupt inside an enclave
 * aborts it instead of being delivered; returns true then. */
bool hix_x86_intercept_event(CPUX86State *env, int intno, int is_hw);

/* helper_syscall / helper_sysenter: #UD inside an enclave. */
void hix_x86_check_syscall(CPUX86State *env, uintptr_t retaddr);

#endif /* HW_HIX_HIX_CPU_H */
