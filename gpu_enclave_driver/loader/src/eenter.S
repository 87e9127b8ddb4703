/* hix_loader_eenter(struct hix_loader_call* call): the untrusted side of an
 * ecall (docs/enclave-sdk.md §5; docs/specs/hix-isa.md §2.2, §3, §4).
 *
 * EENTER with RBX = TCS, RCX = AEP (the abort landing below), RDI = ecall
 * number, RSI = buffer, RDX = size. Control comes back:
 *   - after ENCLU: EEXIT (RAX = 4, RDI = status) or EENTER refused
 *     (RAX = status, nothing entered);
 *   - at hix_loader_aep: the enclave aborted (RAX = HIX_ERR_ENCLAVE_ABORTED,
 *     RBX = vector).
 * The platform restores RSP and RBP on both EEXIT and abort, so the frame
 * below is intact. Every register is saved into *call as found, for the
 * "nothing leaks in registers" checks, before anything here changes it. */
#include "hix/loader/eenter.h"

    .text
    .globl hix_loader_eenter
    .type hix_loader_eenter,@function
hix_loader_eenter:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    pushq %rdi                              /* call */
    /* MXCSR's and the x87 control word's control bits are callee-saved in
     * the SysV ABI; the enclave or the abort resets them. */
    subq $16, %rsp
    stmxcsr 0(%rsp)
    fnstcw 4(%rsp)
    /* Frame from here on: 0 MXCSR, 4 FCW, 16 call. */

    movq HIX_LOADER_CALL_TCS(%rdi), %rbx
    movq HIX_LOADER_CALL_BUFFER(%rdi), %rsi
    movq HIX_LOADER_CALL_SIZE(%rdi), %rdx
    movq HIX_LOADER_CALL_NUMBER(%rdi), %rdi
    leaq hix_loader_aep(%rip), %rcx
    movl $2, %eax                           /* ENCLU[EENTER] */
    .byte 0x0f, 0x01, 0xd7
    /* EEXIT lands here (RCX at EENTER pointed here), as does a refused EENTER. */
    pushq %rax
    movq 24(%rsp), %rax
    movq $HIX_LOADER_LANDED_AFTER_ENCLU, HIX_LOADER_CALL_LANDING(%rax)
    jmp 1f

    .globl hix_loader_aep
hix_loader_aep:
    pushq %rax
    movq 24(%rsp), %rax
    movq $HIX_LOADER_LANDED_AEP, HIX_LOADER_CALL_LANDING(%rax)

1:  /* RAX = call; the landed RAX is at 0(%rsp). */
    movq %rbx, HIX_LOADER_CALL_GPR + 8(%rax)
    movq %rcx, HIX_LOADER_CALL_GPR + 16(%rax)
    movq %rdx, HIX_LOADER_CALL_GPR + 24(%rax)
    movq %rsi, HIX_LOADER_CALL_GPR + 32(%rax)
    movq %rdi, HIX_LOADER_CALL_GPR + 40(%rax)
    movq %rbp, HIX_LOADER_CALL_GPR + 48(%rax)
    movq %r8, HIX_LOADER_CALL_GPR + 56(%rax)
    movq %r9, HIX_LOADER_CALL_GPR + 64(%rax)
    movq %r10, HIX_LOADER_CALL_GPR + 72(%rax)
    movq %r11, HIX_LOADER_CALL_GPR + 80(%rax)
    movq %r12, HIX_LOADER_CALL_GPR + 88(%rax)
    movq %r13, HIX_LOADER_CALL_GPR + 96(%rax)
    movq %r14, HIX_LOADER_CALL_GPR + 104(%rax)
    movq %r15, HIX_LOADER_CALL_GPR + 112(%rax)
    movq 0(%rsp), %rbx
    movq %rbx, HIX_LOADER_CALL_GPR + 0(%rax)
    fxsave64 HIX_LOADER_CALL_FXSAVE(%rax)   /* x87/MMX, MXCSR, XMM0-15 */
    cmpq $0, HIX_LOADER_CALL_CAPTURE_YMM(%rax)
    je 2f
    vextractf128 $1, %ymm0, HIX_LOADER_CALL_YMM_HIGH + 0(%rax)
    vextractf128 $1, %ymm1, HIX_LOADER_CALL_YMM_HIGH + 16(%rax)
    vextractf128 $1, %ymm2, HIX_LOADER_CALL_YMM_HIGH + 32(%rax)
    vextractf128 $1, %ymm3, HIX_LOADER_CALL_YMM_HIGH + 48(%rax)
    vextractf128 $1, %ymm4, HIX_LOADER_CALL_YMM_HIGH + 64(%rax)
    vextractf128 $1, %ymm5, HIX_LOADER_CALL_YMM_HIGH + 80(%rax)
    vextractf128 $1, %ymm6, HIX_LOADER_CALL_YMM_HIGH + 96(%rax)
    vextractf128 $1, %ymm7, HIX_LOADER_CALL_YMM_HIGH + 112(%rax)
    vextractf128 $1, %ymm8, HIX_LOADER_CALL_YMM_HIGH + 128(%rax)
    vextractf128 $1, %ymm9, HIX_LOADER_CALL_YMM_HIGH + 144(%rax)
    vextractf128 $1, %ymm10, HIX_LOADER_CALL_YMM_HIGH + 160(%rax)
    vextractf128 $1, %ymm11, HIX_LOADER_CALL_YMM_HIGH + 176(%rax)
    vextractf128 $1, %ymm12, HIX_LOADER_CALL_YMM_HIGH + 192(%rax)
    vextractf128 $1, %ymm13, HIX_LOADER_CALL_YMM_HIGH + 208(%rax)
    vextractf128 $1, %ymm14, HIX_LOADER_CALL_YMM_HIGH + 224(%rax)
    vextractf128 $1, %ymm15, HIX_LOADER_CALL_YMM_HIGH + 240(%rax)
    vzeroupper                              /* no AVX-SSE transition penalty in C++ */
2:  cld                                     /* the ABI's DF = 0 for our caller */
    ldmxcsr 8(%rsp)
    fninit
    fldcw 12(%rsp)
    addq $32, %rsp                          /* landed RAX, MXCSR/FCW slot, `call` */
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size hix_loader_eenter, . - hix_loader_eenter

    .section .note.GNU-stack,"",@progbits
