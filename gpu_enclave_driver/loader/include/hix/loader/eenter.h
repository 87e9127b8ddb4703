/* The untrusted EENTER trampoline (src/eenter.S): one ecall, and the register
 * state found where control came back (docs/enclave-sdk.md §5). Offsets are
 * macros so that the assembly and C/C++ share them; the struct layout is
 * checked against them below. */
#ifndef HIX_LOADER_EENTER_H
#define HIX_LOADER_EENTER_H

#define HIX_LOADER_CALL_TCS 0
#define HIX_LOADER_CALL_NUMBER 8
#define HIX_LOADER_CALL_BUFFER 16
#define HIX_LOADER_CALL_SIZE 24
#define HIX_LOADER_CALL_CAPTURE_YMM 32
#define HIX_LOADER_CALL_LANDING 40
#define HIX_LOADER_CALL_GPR 48       /* 16 x u64: rax rbx rcx rdx rsi rdi rbp r8..r15, pad */
#define HIX_LOADER_CALL_FXSAVE 176   /* 512 bytes, 16-aligned: x87/MMX, MXCSR, XMM0-15 */
#define HIX_LOADER_CALL_YMM_HIGH 688 /* 16 x 16 bytes: bits 255..128 of YMM0-15 */
#define HIX_LOADER_CALL_SIZEOF 944

/* Where control came back. */
#define HIX_LOADER_LANDED_AFTER_ENCLU 0 /* EEXIT, or EENTER refused (RAX != EEXIT) */
#define HIX_LOADER_LANDED_AEP 1         /* the enclave aborted */

#ifndef __ASSEMBLER__
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct hix_loader_gprs {
  uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp;
  uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
  uint64_t pad;
};

struct hix_loader_call {
  /* in */
  uint64_t tcs; /* linear address of the TCS */
  uint64_t number;
  uint64_t buffer; /* linear address of the untrusted buffer */
  uint64_t size;
  uint64_t capture_ymm; /* nonzero: also save YMM upper halves (needs AVX) */
  /* out */
  uint64_t landing; /* HIX_LOADER_LANDED_* */
  struct hix_loader_gprs gpr;
  uint8_t fxsave[512] __attribute__((aligned(16))); /* FXSAVE64 needs 16 */
  uint8_t ymm_high[16][16];
};

/* EENTER with call->tcs; returns when control is back outside. Saves and
 * restores the callee-saved registers; clobbers the rest. */
void hix_loader_eenter(struct hix_loader_call* call);

#ifdef __cplusplus
}
#define HIX_LOADER_OFFSETOF(m) __builtin_offsetof(hix_loader_call, m)
static_assert(HIX_LOADER_OFFSETOF(tcs) == HIX_LOADER_CALL_TCS);
static_assert(HIX_LOADER_OFFSETOF(number) == HIX_LOADER_CALL_NUMBER);
static_assert(HIX_LOADER_OFFSETOF(buffer) == HIX_LOADER_CALL_BUFFER);
static_assert(HIX_LOADER_OFFSETOF(size) == HIX_LOADER_CALL_SIZE);
static_assert(HIX_LOADER_OFFSETOF(capture_ymm) == HIX_LOADER_CALL_CAPTURE_YMM);
static_assert(HIX_LOADER_OFFSETOF(landing) == HIX_LOADER_CALL_LANDING);
static_assert(HIX_LOADER_OFFSETOF(gpr) == HIX_LOADER_CALL_GPR);
static_assert(HIX_LOADER_OFFSETOF(fxsave) == HIX_LOADER_CALL_FXSAVE);
static_assert(HIX_LOADER_OFFSETOF(ymm_high) == HIX_LOADER_CALL_YMM_HIGH);
static_assert(sizeof(hix_loader_call) == HIX_LOADER_CALL_SIZEOF);
#undef HIX_LOADER_OFFSETOF
#endif

#endif /* __ASSEMBLER__ */

#endif /* HIX_LOADER_EENTER_H */
