/* hello_fault_with_secrets(): the hello enclave's ecall 2 (hello_abi.h).
 * Fills every general-purpose, MMX and XMM/YMM register with a pattern a
 * test can recognise, then raises #UD. The platform must abort the enclave
 * and scrub all of it before the untrusted AEP runs (docs/specs/hix-isa.md §3). */

    .set SECRET, 0x5ec2e75ec2e75ec2     /* HELLO_SECRET_PATTERN */

    .section .rodata.hello_secret,"a",@progbits
    .balign 32
hello_secret_vector:
    .quad SECRET, SECRET, SECRET, SECRET

    .text
    .globl hello_fault_with_secrets
    .type hello_fault_with_secrets,@function
hello_fault_with_secrets:
    cmpb $0, hix_sdk_avx_usable(%rip)
    je 1f
    vmovdqa hello_secret_vector(%rip), %ymm0
    vmovdqa %ymm0, %ymm1
    vmovdqa %ymm0, %ymm2
    vmovdqa %ymm0, %ymm3
    vmovdqa %ymm0, %ymm4
    vmovdqa %ymm0, %ymm5
    vmovdqa %ymm0, %ymm6
    vmovdqa %ymm0, %ymm7
    vmovdqa %ymm0, %ymm8
    vmovdqa %ymm0, %ymm9
    vmovdqa %ymm0, %ymm10
    vmovdqa %ymm0, %ymm11
    vmovdqa %ymm0, %ymm12
    vmovdqa %ymm0, %ymm13
    vmovdqa %ymm0, %ymm14
    vmovdqa %ymm0, %ymm15
    jmp 2f
1:  movdqa hello_secret_vector(%rip), %xmm0
    movdqa %xmm0, %xmm1
    movdqa %xmm0, %xmm2
    movdqa %xmm0, %xmm3
    movdqa %xmm0, %xmm4
    movdqa %xmm0, %xmm5
    movdqa %xmm0, %xmm6
    movdqa %xmm0, %xmm7
    movdqa %xmm0, %xmm8
    movdqa %xmm0, %xmm9
    movdqa %xmm0, %xmm10
    movdqa %xmm0, %xmm11
    movdqa %xmm0, %xmm12
    movdqa %xmm0, %xmm13
    movdqa %xmm0, %xmm14
    movdqa %xmm0, %xmm15
2:  movabsq $SECRET, %rax
    movq %rax, %mm0
    movq %rax, %mm1
    movq %rax, %mm2
    movq %rax, %mm3
    movq %rax, %mm4
    movq %rax, %mm5
    movq %rax, %mm6
    movq %rax, %mm7
    movq %rax, %rbx
    movq %rax, %rcx
    movq %rax, %rdx
    movq %rax, %rsi
    movq %rax, %rdi
    movq %rax, %rbp
    movq %rax, %r8
    movq %rax, %r9
    movq %rax, %r10
    movq %rax, %r11
    movq %rax, %r12
    movq %rax, %r13
    movq %rax, %r14
    movq %rax, %r15
    ud2
    .size hello_fault_with_secrets, . - hello_fault_with_secrets

    .section .note.GNU-stack,"",@progbits
