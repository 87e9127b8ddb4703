/*
 * OpenHIX: the HIX ISA on QEMU's x86 TCG CPU (docs/specs/hix-isa.md).
 *
 * ENCLS/ENCLU decode lands in helper_hix_encl; the memory checks run from
 * x86_cpu_tlb_fill; interrupts, exceptions and system calls are screened
 * while a vCPU is in enclave mode. The policy itself is hix_core (plain C).
 *
 * Concurrency: ENCLS leaves run as exclusive work (async_safe_run_on_cpu:
 * every vCPU stopped), then flush every vCPU's TLB before anyone runs again.
 * EENTER/EEXIT/abort touch only their own vCPU plus TCS and activity state,
 * under HixPlatform.lock (a leaf lock). Killing an enclave (scrubbing its
 * pages, throwing other vCPUs out of it) is exclusive work again.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "cpu.h"
#include "exec/exec-all.h"
#include "exec/cpu_ldst.h"
#include "exec/helper-proto.h"
#include "hw/core/cpu.h"
#include "tcg/helper-tcg.h"
#include "hw/hix/hix.h"
#include "hw/hix/hix-cpu.h"
#include "hw/hix/hix-lock.h"
#include "hw/hix/hix-pci.h"

/* Per-vCPU enclave mode; saved untrusted state lives here, never in guest
 * memory (spec §2.2). */
typedef struct HixVcpu {
    bool inside;
    int enclave;
    hix_paddr_t tcs_pa;
    target_ulong aep;
    target_ulong rsp;
    target_ulong rbp;
    uint32_t rflags;
    target_ulong fs_base;
    target_ulong gs_base;
} HixVcpu;

static HixVcpu hix_vcpus[HIX_MAX_VCPUS];

static HixVcpu *hix_vcpu(CPUState *cs)
{
    /* hix_platform_complete refused a machine with more vCPUs. */
    g_assert(cs->cpu_index >= 0 && cs->cpu_index < HIX_MAX_VCPUS);
    return &hix_vcpus[cs->cpu_index];
}

static int hix_cpl(CPUX86State *env)
{
    return env->hflags & HF_CPL_MASK;
}

static void hix_audit(CPUState *cs, uint64_t linear, uint64_t physical,
                      enum hix_deny_kind kind, enum hix_verdict verdict,
                      int enclave)
{
    X86CPU *cpu = X86_CPU(cs);
    struct hix_denial d = {
        .vcpu = cs->cpu_index,
        .cpl = hix_cpl(&cpu->env),
        .linear = linear,
        .physical = physical,
        .kind = kind,
        .verdict = verdict,
        .enclave_secs = hix_pa_addr(
            hix_secs_pa(hix_enclave_secs(&hix_platform->core, enclave))),
    };
    hix_audit_record(&hix_platform->core, &d);
}

/* Status to RAX, ZF set on failure, other arithmetic flags clear (§2). */
static void hix_set_status(CPUX86State *env, enum hix_status st)
{
    env->regs[R_EAX] = st;
    CC_SRC = st == HIX_OK ? 0 : CC_Z;
    CC_OP = CC_OP_EFLAGS;
}

static void hix_flush_all_tlbs(void)
{
    CPUState *cs;

    /* From exclusive work: other vCPUs are stopped and run this before
     * their next instruction; the current one flushes immediately. */
    CPU_FOREACH(cs)
    {
        tlb_flush(cs);
    }
}

/* ---- Enclave mode: enter, exit, abort ---------------------------------- */

#define HIX_FLAGS_CLEARED_INSIDE (TF_MASK | AC_MASK | NT_MASK | RF_MASK)

static void hix_restore_outside(CPUX86State *env, HixVcpu *v)
{
    env->regs[R_ESP] = v->rsp;
    env->regs[R_EBP] = v->rbp;
    env->segs[R_FS].base = v->fs_base;
    env->segs[R_GS].base = v->gs_base;
    cpu_load_eflags(env, v->rflags,
                    HIX_FLAGS_CLEARED_INSIDE | DF_MASK | CC_O | CC_S | CC_Z |
                        CC_A | CC_P | CC_C);
}

/* Fail-closed register scrub (spec §3): nothing computed inside survives. */
static void hix_scrub_registers(CPUX86State *env)
{
    memset(env->regs, 0, sizeof(env->regs));
    memset(env->xmm_regs, 0, sizeof(env->xmm_regs));
    memset(env->opmask_regs, 0, sizeof(env->opmask_regs));
    memset(env->fpregs, 0, sizeof(env->fpregs));
    memset(env->fptags, 1, sizeof(env->fptags));
    env->fpstt = 0;
    env->fpus = 0;
    env->fpuc = 0x37f;
    env->mxcsr = 0x1f80;
    CC_SRC = 0;
    CC_OP = CC_OP_EFLAGS;
}

/* Leave enclave mode through the abort path; caller holds no lock. */
static void hix_abort_vcpu(CPUState *cs, int vector)
{
    CPUX86State *env = &X86_CPU(cs)->env;
    HixVcpu *v = hix_vcpu(cs);
    HixPlatform *p = hix_platform;

    qemu_mutex_lock(&p->lock);
    hix_enclave_leave(&p->core, v->enclave, v->tcs_pa);
    hix_enclave_mark_dead(&p->core, v->enclave);
    qemu_mutex_unlock(&p->lock);

    hix_scrub_registers(env);
    hix_restore_outside(env, v);
    env->regs[R_EAX] = HIX_ERR_ENCLAVE_ABORTED;
    env->regs[R_EBX] = (target_ulong)vector;
    env->eip = v->aep;
    v->inside = false;
    tlb_flush(cs);
}

/* Exclusive: throw every other vCPU out of the dead enclave, zero its pages,
 * drop every translation to them. */
static void hix_kill_work(CPUState *self, run_on_cpu_data data)
{
    const int enclave = data.host_int;
    CPUState *cs;

    CPU_FOREACH(cs)
    {
        HixVcpu *v = hix_vcpu(cs);
        if (cs != self && v->inside && v->enclave == enclave) {
            hix_abort_vcpu(cs, -1);
        }
    }
    hix_enclave_scrub(&hix_platform->core, enclave);
    hix_flush_all_tlbs();
}

static void hix_abort_enclave(CPUState *cs, int vector)
{
    const int enclave = hix_vcpu(cs)->enclave;

    hix_abort_vcpu(cs, vector);
    async_safe_run_on_cpu(cs, hix_kill_work, RUN_ON_CPU_HOST_INT(enclave));
}

static G_NORETURN void hix_abort_from_access(CPUState *cs, uintptr_t retaddr,
                                             int vector)
{
    if (retaddr) {
        cpu_restore_state(cs, retaddr);
    }
    hix_abort_enclave(cs, vector);
    cs->exception_index = -1;
    cpu_loop_exit(cs);
}

/* ---- Hooks ------------------------------------------------------------- */

bool hix_x86_cpuid(uint32_t index, uint32_t *eax, uint32_t *ebx, uint32_t *ecx,
                   uint32_t *edx)
{
    if (index != HIX_CPUID_LEAF) {
        return false;
    }
    if (!hix_platform) {
        *eax = *ebx = *ecx = *edx = 0;
        return true;
    }
    *eax = HIX_CPUID_SIGNATURE;
    *ebx = HIX_ISA_VERSION;
    *ecx = HIX_ENCLS_LEAF_MASK;
    *edx = HIX_ENCLU_LEAF_MASK;
    return true;
}

bool hix_x86_tlb_install(CPUState *cs, vaddr addr, MMUAccessType access_type,
                         int mmu_idx, hwaddr paddr, int prot, int page_size,
                         MemTxAttrs attrs, bool probe, uintptr_t retaddr)
{
    HixPlatform *p = hix_platform;
    const vaddr vpage = addr & TARGET_PAGE_MASK;

    if (!p) {
        tlb_set_page_with_attrs(cs, vpage, paddr & TARGET_PAGE_MASK, attrs,
                                prot, mmu_idx, page_size);
        return true;
    }

    HixVcpu *v = hix_vcpu(cs);
    const int enclave = v->inside ? v->enclave : -1;
    const bool paging = mmu_idx == MMU_PHYS_IDX || mmu_idx == MMU_NESTED_IDX;
    const struct hix_access_request req = {
        .enclave = enclave,
        .paging_structure = paging,
        .linear = hix_la(addr),
        .physical = hix_pa(paddr),
        .access = access_type == MMU_INST_FETCH   ? HIX_ACCESS_FETCH
                  : access_type == MMU_DATA_STORE ? HIX_ACCESS_WRITE
                                                  : HIX_ACCESS_READ,
    };
    struct hix_access_grant grant = { .kind = HIX_DENY_KIND_COUNT };
    enum hix_verdict verdict = hix_check_access(&p->core, &req, &grant);
    const uint32_t mask = grant.perm_mask;
    const bool tag = grant.device_tag;
    enum hix_deny_kind kind = grant.kind;

    if (verdict == HIX_ALLOW && enclave >= 0 && p->core.enforce &&
        hix_epcm_lookup(&p->core, req.physical) &&
        !hix_platform_epc_decodes_ram(paddr)) {
        /* Something else decodes over the enclave's page (spec §16.1). */
        verdict = HIX_ENCLAVE_ABORT;
        kind = HIX_DENY_ENCLAVE_EPC_DECODE;
    }
    switch (verdict) {
    case HIX_ALLOW:
        if (tag && !hix_pci_decodes_locked_bar(req.physical)) {
            /* Something else decodes where the locked BAR was: the owner
             * must not talk to it (defence behind the config lock). */
            if (probe) {
                return false;
            }
            hix_audit(cs, addr, paddr, HIX_DENY_ENCLAVE_GLRANGE_MISMATCH,
                      HIX_ENCLAVE_ABORT, enclave);
            hix_abort_from_access(cs, retaddr, EXCP0E_PAGE);
        }
        if (tag) {
            /* The owner's GLRANGE: the device frontend checks this tag
             * (spec §13); nothing but this translation sets bit2. */
            attrs.requester_id = HIX_REQUESTER_ENCLAVE(enclave);
            attrs.target_tlb_bit2 = 1;
        }
        /* HIX_PAGE_R/W/X share PAGE_READ/WRITE/EXEC's bit positions. */
        tlb_set_page_with_attrs(cs, vpage, paddr & TARGET_PAGE_MASK, attrs,
                                prot & (int)mask, mmu_idx, page_size);
        return true;
    case HIX_ABORT_PAGE:
        hix_audit(cs, addr, paddr, kind, verdict, enclave);
        /* Size 1: the entry serves this one access, so the next access is
         * checked (and logged) again. */
        tlb_set_page_with_attrs(cs, vpage, HIX_ABORT_PAGE_PA, attrs,
                                PAGE_READ | PAGE_WRITE, mmu_idx, 1);
        return true;
    case HIX_FAULT_GP:
        if (probe) {
            return false;
        }
        hix_audit(cs, addr, paddr, kind, verdict, enclave);
        raise_exception_err_ra(&X86_CPU(cs)->env, EXCP0D_GPF, 0, retaddr);
    case HIX_ENCLAVE_ABORT:
        if (probe) {
            return false;
        }
        hix_audit(cs, addr, paddr, kind, verdict, enclave);
        hix_abort_from_access(cs, retaddr, EXCP0E_PAGE);
    }
    g_assert_not_reached();
}

void hix_x86_tlb_fault(CPUState *cs, vaddr addr, MMUAccessType access_type,
                       uintptr_t retaddr)
{
    HixVcpu *v;

    if (!hix_platform) {
        return;
    }
    v = hix_vcpu(cs);
    if (!v->inside) {
        return;
    }
    hix_audit(cs, addr, 0, HIX_DENY_ENCLAVE_UNMAPPED, HIX_ENCLAVE_ABORT,
              v->enclave);
    hix_abort_from_access(cs, retaddr, EXCP0E_PAGE);
}

bool hix_x86_hold_interrupts(CPUState *cs)
{
    if (!hix_platform) {
        return false;
    }
    if (hix_platform->core.enforce &&
        (cs->interrupt_request & CPU_INTERRUPT_SMI)) {
        /* The platform has no SMM (spec §16.4): an SMI is discarded. Hold
         * everything for this round: the caller's copy of the pending
         * interrupts still names the SMI; the next round reads them anew. */
        cpu_reset_interrupt(cs, CPU_INTERRUPT_SMI);
        return true;
    }
    if (!hix_platform->core.enforce &&
        (cs->interrupt_request & CPU_INTERRUPT_INIT)) {
        /* Holding INIT is §16.6, off with enforce=off like the rest of §16
         * (the INIT attack's control): INIT is taken first, mid-enclave. */
        return false;
    }
    return hix_vcpu(cs)->inside;
}

void hix_cpu_platform_reset(bool enforce)
{
    CPUState *cs;

    CPU_FOREACH(cs)
    {
        CPUX86State *env = &X86_CPU(cs)->env;
        HixVcpu *v = hix_vcpu(cs);

        /* The enclaves are gone (or never existed): nothing to return to. */
        memset(v, 0, sizeof(*v));
        if (enforce) {
            /* §16.3: no SVM. EFER.SVME follows CPUID, so VMRUN and its
             * siblings raise #UD. */
            env->features[FEAT_8000_0001_ECX] &=
                ~(uint64_t)(CPUID_EXT3_SVM | CPUID_EXT3_SKINIT);
            env->features[FEAT_SVM] = 0;
            env->efer &= ~MSR_EFER_SVME;
            env->hflags &= ~HF_SVME_MASK;
        }
        tlb_flush(cs);
    }
}

bool hix_x86_intercept_event(CPUX86State *env, int intno, int is_hw)
{
    CPUState *cs = env_cpu(env);
    HixVcpu *v;

    if (!hix_platform) {
        return false;
    }
    v = hix_vcpu(cs);
    if (!v->inside) {
        return false;
    }
    /* Hardware interrupts are held while inside; anything arriving here is
     * an exception or a software interrupt raised by enclave code. */
    hix_audit(cs, env->eip, 0, HIX_DENY_ENCLAVE_EXCEPTION, HIX_ENCLAVE_ABORT,
              v->enclave);
    hix_abort_enclave(cs, intno);
    return true;
}

void hix_x86_check_syscall(CPUX86State *env, uintptr_t retaddr)
{
    if (hix_platform && hix_vcpu(env_cpu(env))->inside) {
        raise_exception_ra(env, EXCP06_ILLOP, retaddr);
    }
}

/* ---- ENCLS ------------------------------------------------------------- */

typedef struct HixEnclsWork {
    uint32_t leaf;
    uint64_t rcx;
    uint64_t rdx;
    struct hix_secs_params secs;
    struct hix_pageinfo pageinfo;
    struct hix_glock_params glock;
    uint8_t src[HIX_PAGE_SIZE];
} HixEnclsWork;

static void hix_load_bytes(CPUX86State *env, target_ulong addr, void *buf,
                           size_t len, uintptr_t ra)
{
    uint8_t *out = buf;

    for (size_t i = 0; i < len; i += 8) {
        uint64_t q = cpu_ldq_data_ra(env, addr + i, ra);
        memcpy(out + i, &q, MIN(8, len - i));
    }
}

/* Exclusive: apply the leaf to the EPCM, report, flush every TLB. */
static void hix_encls_work(CPUState *cs, run_on_cpu_data data)
{
    HixEnclsWork *w = data.host_ptr;
    struct hix_core *core = &hix_platform->core;
    CPUX86State *env = &X86_CPU(cs)->env;
    enum hix_status st;

    /* Register operands (spec §2.1): RCX the page the leaf works on, RDX
     * the enclave's SECS (ECREATE: RCX, the SECS to create). */
    const hix_paddr_t page = hix_pa(w->rcx);
    const hix_secs_t secs = hix_secs(hix_pa(w->rdx));

    switch (w->leaf) {
    case HIX_ECREATE:
        st = hix_ecreate(core, &w->secs, hix_secs(page));
        break;
    case HIX_EADD:
        st = hix_eadd(core, &w->pageinfo, w->src, page, secs);
        break;
    case HIX_EEXTEND:
        st = hix_eextend(core, page, secs);
        break;
    case HIX_EINIT:
        st = hix_einit(core, secs);
        break;
    case HIX_EREMOVE:
        st = hix_eremove(core, page);
        break;
    case HIX_EDESTROY:
        st = hix_edestroy(core, secs);
        break;
    case HIX_EGLOCK: {
        struct hix_device_desc dev;
        const hix_bdf_t bdf = hix_bdf(w->glock.bdf);
        st = hix_pci_describe(bdf, &dev)
                 ? hix_eglock(core, secs, &w->glock, &dev)
                 : HIX_ERR_NO_DEVICE;
        if (st == HIX_OK) {
            hix_pci_lock_changed(bdf, true);
        }
        break;
    }
    default:
        st = HIX_ERR_UNSUPPORTED;
        break;
    }
    hix_set_status(env, st);
    if (st == HIX_OK && w->leaf != HIX_EEXTEND && w->leaf != HIX_EINIT) {
        hix_flush_all_tlbs();
        if (w->leaf != HIX_EGLOCK) {
            hix_pci_epc_changed();
        }
    }
    g_free(w);
}

static void hix_encls(CPUX86State *env, target_ulong next_eip, uintptr_t ra)
{
    CPUState *cs = env_cpu(env);
    const uint32_t leaf = (uint32_t)env->regs[R_EAX];
    HixEnclsWork *w;

    if (leaf > HIX_EGLOCK) {
        raise_exception_err_ra(env, EXCP0D_GPF, 0, ra);
    }
    /* Operands come through the caller's page tables at its privilege;
     * a fault here is delivered before any state changes. */
    w = g_new0(HixEnclsWork, 1);
    w->leaf = leaf;
    w->rcx = env->regs[R_ECX];
    w->rdx = env->regs[R_EDX];
    if (leaf == HIX_ECREATE) {
        hix_load_bytes(env, env->regs[R_EBX], &w->secs, sizeof(w->secs), ra);
    } else if (leaf == HIX_EGLOCK) {
        hix_load_bytes(env, env->regs[R_EBX], &w->glock, sizeof(w->glock), ra);
    } else if (leaf == HIX_EADD) {
        hix_load_bytes(env, env->regs[R_EBX], &w->pageinfo, sizeof(w->pageinfo),
                       ra);
        hix_load_bytes(env, w->pageinfo.src, w->src, sizeof(w->src), ra);
    }
    env->eip = next_eip;
    async_safe_run_on_cpu(cs, hix_encls_work, RUN_ON_CPU_HOST_PTR(w));
    cs->exception_index = -1;
    cpu_loop_exit(cs);
}

/* ---- ENCLU ------------------------------------------------------------- */

/* Is [addr, addr+len) inside the enclave's own regular EPC pages? */
static bool hix_own_epc(CPUState *cs, int enclave, target_ulong addr,
                        size_t len)
{
    const struct hix_core *core = &hix_platform->core;

    if (len == 0 || addr + len < addr) {
        return false;
    }
    for (target_ulong page = addr & TARGET_PAGE_MASK; page < addr + len;
         page += TARGET_PAGE_SIZE) {
        MemTxAttrs attrs;
        hwaddr pa = cpu_get_phys_page_attrs_debug(cs, page, &attrs);
        const struct hix_epcm_entry *e;
        if (pa == -1) {
            return false;
        }
        e = hix_epcm_lookup(core, hix_pa(pa));
        if (!e || e->owner != enclave || hix_la_addr(e->linaddr) != page ||
            (e->flags & HIX_PAGE_TYPE_MASK) != HIX_PAGE_TYPE_REG) {
            return false;
        }
    }
    return true;
}

static void enclu_eenter(CPUX86State *env, target_ulong next_eip)
{
    CPUState *cs = env_cpu(env);
    HixVcpu *v = hix_vcpu(cs);
    HixPlatform *p = hix_platform;
    const target_ulong tcs = env->regs[R_EBX];
    MemTxAttrs attrs;
    enum hix_status st = HIX_ERR_BAD_TCS;
    struct hix_enclave_entry in = { .enclave = -1 };
    hwaddr tcs_pa =
        cpu_get_phys_page_attrs_debug(cs, tcs & TARGET_PAGE_MASK, &attrs);

    if (tcs_pa != -1) {
        qemu_mutex_lock(&p->lock);
        st = hix_eenter(&p->core, hix_la(tcs), hix_pa(tcs_pa), &in);
        qemu_mutex_unlock(&p->lock);
    }
    if (st != HIX_OK) {
        hix_set_status(env, st);
        env->eip = next_eip;
        return;
    }
    v->inside = true;
    v->enclave = in.enclave;
    v->tcs_pa = hix_pa(tcs_pa);
    v->aep = env->regs[R_ECX];
    v->rsp = env->regs[R_ESP];
    v->rbp = env->regs[R_EBP];
    v->rflags = cpu_compute_eflags(env);
    v->fs_base = env->segs[R_FS].base;
    v->gs_base = env->segs[R_GS].base;

    cpu_load_eflags(env, 0,
                    HIX_FLAGS_CLEARED_INSIDE | DF_MASK | CC_O | CC_S | CC_Z |
                        CC_A | CC_P | CC_C);
    env->regs[R_EAX] = 0;
    env->regs[R_ECX] = next_eip;
    env->regs[R_ESP] = hix_la_addr(in.stack);
    env->regs[R_EBP] = 0;
    env->eip = hix_la_addr(in.entry);
    tlb_flush(cs);
}

static void enclu_eexit(CPUX86State *env)
{
    CPUState *cs = env_cpu(env);
    HixVcpu *v = hix_vcpu(cs);
    HixPlatform *p = hix_platform;
    const target_ulong target = env->regs[R_EBX];

    qemu_mutex_lock(&p->lock);
    hix_enclave_leave(&p->core, v->enclave, v->tcs_pa);
    qemu_mutex_unlock(&p->lock);
    hix_restore_outside(env, v);
    env->eip = target;
    v->inside = false;
    tlb_flush(cs);
}

static void enclu_ereport(CPUX86State *env, target_ulong next_eip, uintptr_t ra)
{
    CPUState *cs = env_cpu(env);
    HixVcpu *v = hix_vcpu(cs);
    const target_ulong data = env->regs[R_EBX];
    const target_ulong out = env->regs[R_ECX];
    uint8_t report_data[HIX_REPORT_DATA_SIZE];
    struct hix_report report;

    if (!hix_own_epc(cs, v->enclave, data, sizeof(report_data)) ||
        !hix_own_epc(cs, v->enclave, out, sizeof(report))) {
        hix_set_status(env, HIX_ERR_INVALID_PARAM);
        env->eip = next_eip;
        return;
    }
    for (size_t i = 0; i < sizeof(report_data); i++) {
        report_data[i] = (uint8_t)cpu_ldub_data_ra(env, data + i, ra);
    }
    hix_ereport(&hix_platform->core, v->enclave, report_data, &report);
    for (size_t i = 0; i < sizeof(report); i++) {
        cpu_stb_data_ra(env, out + i, ((const uint8_t *)&report)[i], ra);
    }
    hix_set_status(env, HIX_OK);
    env->eip = next_eip;
}

static void enclu_egetkey(CPUX86State *env, target_ulong next_eip, uintptr_t ra)
{
    CPUState *cs = env_cpu(env);
    HixVcpu *v = hix_vcpu(cs);
    const target_ulong req_addr = env->regs[R_EBX];
    const target_ulong out = env->regs[R_ECX];
    struct hix_keyrequest req;
    uint8_t key[HIX_KEY_SIZE];
    enum hix_status st;

    if (!hix_own_epc(cs, v->enclave, req_addr, sizeof(req)) ||
        !hix_own_epc(cs, v->enclave, out, sizeof(key))) {
        hix_set_status(env, HIX_ERR_INVALID_PARAM);
        env->eip = next_eip;
        return;
    }
    for (size_t i = 0; i < sizeof(req); i++) {
        ((uint8_t *)&req)[i] = (uint8_t)cpu_ldub_data_ra(env, req_addr + i, ra);
    }
    st = hix_egetkey(&hix_platform->core, v->enclave, &req, key);
    if (st == HIX_OK) {
        for (size_t i = 0; i < sizeof(key); i++) {
            cpu_stb_data_ra(env, out + i, key[i], ra);
        }
    }
    sodium_memzero(key, sizeof(key));
    hix_set_status(env, st);
    env->eip = next_eip;
}

static void hix_enclu(CPUX86State *env, target_ulong next_eip, uintptr_t ra)
{
    const bool inside = hix_vcpu(env_cpu(env))->inside;

    switch ((uint32_t)env->regs[R_EAX]) {
    case HIX_EENTER:
        if (!inside) {
            enclu_eenter(env, next_eip);
            return;
        }
        break;
    case HIX_EEXIT:
        if (inside) {
            enclu_eexit(env);
            return;
        }
        break;
    case HIX_EREPORT:
        if (inside) {
            enclu_ereport(env, next_eip, ra);
            return;
        }
        break;
    case HIX_EGETKEY:
        if (inside) {
            enclu_egetkey(env, next_eip, ra);
            return;
        }
        break;
    }
    raise_exception_err_ra(env, EXCP0D_GPF, 0, ra);
}

/* ENCLS (0F 01 CF) and ENCLU (0F 01 D7); env->eip is the instruction. */
void helper_hix_encl(CPUX86State *env, uint32_t modrm, uint32_t insn_len)
{
    const uintptr_t ra = GETPC();
    const target_ulong next_eip = env->eip + insn_len;
    const bool encls = modrm == 0xcf;

    if (!hix_platform || !(env->hflags & HF_CS64_MASK)) {
        raise_exception_ra(env, EXCP06_ILLOP, ra);
    }
    if (encls ? hix_cpl(env) != 0 : hix_cpl(env) != 3) {
        HixVcpu *v = hix_vcpu(env_cpu(env));
        hix_audit(env_cpu(env), env->eip, 0,
                  encls ? HIX_DENY_ENCLS_CPL : HIX_DENY_ENCLU_CPL, HIX_FAULT_GP,
                  v->inside ? v->enclave : -1);
        raise_exception_err_ra(env, EXCP0D_GPF, 0, ra);
    }
    if (encls) {
        hix_encls(env, next_eip, ra);
    } else {
        hix_enclu(env, next_eip, ra);
    }
}
