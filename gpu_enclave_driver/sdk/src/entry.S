/* The enclave entry stub: EENTER lands here (docs/specs/hix-isa.md §2.2, §4;
 * docs/enclave-sdk.md §3).
 *
 * On entry (set by EENTER): RSP = base + tcs.stack (16-byte aligned),
 * RCX = return point (after the caller's ENCLU), RDI = ecall number,
 * RSI = untrusted buffer, RDX = its size. Every other register, RFLAGS and
 * the FP/vector control state are the untrusted caller's.
 *
 * On exit: EEXIT to the return point with RDI = status, RAX = 4 (the leaf),
 * RBX = the return point, and every other general-purpose register and the
 * x87/MMX, SSE, AVX and AVX-512 register state cleared. EEXIT restores RSP and RBP from EENTER. */

    .set RFLAGS_DF, 1 << 10
    .set RFLAGS_AC, 1 << 18
    .set ENCLU_EEXIT, 4
    .set MXCSR_DEFAULT, 0x1f80

    .section .rodata.hix_entry,"a",@progbits
    .balign 4
hix_sdk_mxcsr_default:
    .long MXCSR_DEFAULT

    .section .text.hix_entry,"ax",@progbits
    .globl hix_sdk_entry
    .type hix_sdk_entry,@function
hix_sdk_entry:
    /* The caller's flags and FP controls must not steer enclave code: clear
     * DF (string direction) and AC (alignment checks), reset MXCSR and the
     * x87 control word to their defaults. */
    cld
    pushfq
    andq $~(RFLAGS_DF | RFLAGS_AC), (%rsp)
    popfq
    ldmxcsr hix_sdk_mxcsr_default(%rip)
    fninit

    /* FS.base -> the enclave's own TCB, whose stack canary (%fs:0x28) the
     * stack-protected libsodium objects read. EEXIT and an abort restore the
     * caller's FS.base (spec §2.2, §3). */
    leaq hix_sdk_tcb(%rip), %rax
    wrfsbase %rax

    pushq %rcx                  /* the return point, for EEXIT */
    subq $8, %rsp               /* RSP % 16 == 0 at the call (SysV ABI) */
    call hix_sdk_dispatch       /* (RDI = number, RSI = buffer, RDX = size) -> RAX */
    addq $8, %rsp
    popq %rbx                   /* EEXIT's target */
    movq %rax, %rdi             /* the ecall's status */

    /* Nothing computed inside may leave in a register: vector state first. */
    cmpb $0, hix_sdk_avx_usable(%rip)
    je 1f
    vzeroall                    /* ZMM/YMM/XMM 0-15, all bits */
    cmpb $0, hix_sdk_avx512_usable(%rip)
    je 2f
    /* Only libsodium's argon2 uses AVX-512, but what it leaves is as secret. */
    vpxord %zmm16, %zmm16, %zmm16
    vpxord %zmm17, %zmm17, %zmm17
    vpxord %zmm18, %zmm18, %zmm18
    vpxord %zmm19, %zmm19, %zmm19
    vpxord %zmm20, %zmm20, %zmm20
    vpxord %zmm21, %zmm21, %zmm21
    vpxord %zmm22, %zmm22, %zmm22
    vpxord %zmm23, %zmm23, %zmm23
    vpxord %zmm24, %zmm24, %zmm24
    vpxord %zmm25, %zmm25, %zmm25
    vpxord %zmm26, %zmm26, %zmm26
    vpxord %zmm27, %zmm27, %zmm27
    vpxord %zmm28, %zmm28, %zmm28
    vpxord %zmm29, %zmm29, %zmm29
    vpxord %zmm30, %zmm30, %zmm30
    vpxord %zmm31, %zmm31, %zmm31
    kxorw %k0, %k0, %k0
    kxorw %k1, %k1, %k1
    kxorw %k2, %k2, %k2
    kxorw %k3, %k3, %k3
    kxorw %k4, %k4, %k4
    kxorw %k5, %k5, %k5
    kxorw %k6, %k6, %k6
    kxorw %k7, %k7, %k7
    jmp 2f
1:  pxor %xmm0, %xmm0
    pxor %xmm1, %xmm1
    pxor %xmm2, %xmm2
    pxor %xmm3, %xmm3
    pxor %xmm4, %xmm4
    pxor %xmm5, %xmm5
    pxor %xmm6, %xmm6
    pxor %xmm7, %xmm7
    pxor %xmm8, %xmm8
    pxor %xmm9, %xmm9
    pxor %xmm10, %xmm10
    pxor %xmm11, %xmm11
    pxor %xmm12, %xmm12
    pxor %xmm13, %xmm13
    pxor %xmm14, %xmm14
    pxor %xmm15, %xmm15
2:  ldmxcsr hix_sdk_mxcsr_default(%rip)   /* drops the exception flags */
    /* fninit only empties the x87 tags; eight loads of 0.0 overwrite every
     * physical x87/MMX register, the second fninit resets TOP and tags. */
    fninit
    fldz
    fldz
    fldz
    fldz
    fldz
    fldz
    fldz
    fldz
    fninit

    xorl %ecx, %ecx
    xorl %edx, %edx
    xorl %esi, %esi
    xorl %ebp, %ebp
    xorl %r8d, %r8d
    xorl %r9d, %r9d
    xorl %r10d, %r10d
    xorl %r11d, %r11d
    xorl %r12d, %r12d
    xorl %r13d, %r13d
    xorl %r14d, %r14d
    xorl %r15d, %r15d
    movl $ENCLU_EEXIT, %eax
    .byte 0x0f, 0x01, 0xd7      /* ENCLU[EEXIT] */
    ud2                         /* EEXIT does not return; if it did, fail closed */
    .size hix_sdk_entry, . - hix_sdk_entry

/* hix_sdk_abort(): fail-closed exit. #UD inside an enclave aborts it
 * (spec §3): the platform scrubs the registers and marks it dead. */
    .text
    .globl hix_sdk_abort
    .type hix_sdk_abort,@function
hix_sdk_abort:
    ud2
    .size hix_sdk_abort, . - hix_sdk_abort

    .section .note.GNU-stack,"",@progbits
