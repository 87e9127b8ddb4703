// An enclave with code, built by the attacker's kernel and entered by the
// attacker's process (docs/specs/hix-isa.md §2, §4): what a malicious OS can
// run without hix.ko, on physical pages of its own choosing. Shared by the
// platform attackers that need a vCPU inside an enclave (s3.cpp, svm.cpp).
//
// ELRANGE (RawEnclave's base and size):
//   base + 0x0000  TCS   entry = 0x1000, stack = 0x3000
//   base + 0x1000  code  R|X: kEnclaveCode below
//   base + 0x2000  data  R|W: the 64-byte secret at offset 0
// The process maps ELRANGE with its own page tables, rewritten by the module
// to name the EPC pages (the loader's mmap of /dev/hix does the same).
#pragma once

#include <sys/mman.h>

#include "platform_common.hpp"
#include "spinner/spinner_abi.h"

// The enclave's code (copied into its code page, never run in the host).
// EENTER leaves RBX = the TCS, i.e. the ELRANGE base; RDI = a struct
// spinner_shared in untrusted memory; RSI = the mode. It loads the secret
// into R8-R15 and XMM0, then with mode 0 counts in shared->counter until
// shared->stop, clears those registers, sets shared->done and EEXITs to RCX;
// with any other mode it executes UD2 with the secret in its registers.
// NOLINTNEXTLINE(hicpp-no-assembler): the enclave's code is machine code
asm(".pushsection .rodata\n"
    ".globl hix_platform_enclave_code\n"
    "hix_platform_enclave_code:\n\t"
    "mov 0x2000(%rbx), %r8\n\t"
    "mov 0x2008(%rbx), %r9\n\t"
    "mov 0x2010(%rbx), %r10\n\t"
    "mov 0x2018(%rbx), %r11\n\t"
    "mov 0x2020(%rbx), %r12\n\t"
    "mov 0x2028(%rbx), %r13\n\t"
    "mov 0x2030(%rbx), %r14\n\t"
    "mov 0x2038(%rbx), %r15\n\t"
    "movdqu 0x2000(%rbx), %xmm0\n\t"
    "test %rsi, %rsi\n\t"
    "jnz 2f\n"
    "1:\n\t"
    "incq (%rdi)\n\t"
    "cmpq $0, 8(%rdi)\n\t"
    "je 1b\n\t"
    "xor %r8d, %r8d\n\t"
    "xor %r9d, %r9d\n\t"
    "xor %r10d, %r10d\n\t"
    "xor %r11d, %r11d\n\t"
    "xor %r12d, %r12d\n\t"
    "xor %r13d, %r13d\n\t"
    "xor %r14d, %r14d\n\t"
    "xor %r15d, %r15d\n\t"
    "pxor %xmm0, %xmm0\n\t"
    "movq $1, 16(%rdi)\n\t"
    "mov %rcx, %rbx\n\t"
    "mov $4, %eax\n\t"
    ".byte 0x0f, 0x01, 0xd7\n" /* ENCLU[EEXIT] */
    "2:\n\t"
    "ud2\n"
    ".globl hix_platform_enclave_code_end\n"
    "hix_platform_enclave_code_end:\n"
    ".popsection");

extern "C" const std::uint8_t hix_platform_enclave_code[];
extern "C" const std::uint8_t hix_platform_enclave_code_end[];

namespace hix::platform {

inline constexpr std::uint64_t kEnclaveModeSpin = 0;
inline constexpr std::uint64_t kEnclaveModeFault = 1;

struct RunnableEnclave {
  static constexpr std::uint64_t kBase = RawEnclave::kBase;
  static constexpr std::uint64_t kSize = RawEnclave::kSize;
  static constexpr std::uint64_t kTcs = 0x0000;
  static constexpr std::uint64_t kCode = 0x1000;
  static constexpr std::uint64_t kData = 0x2000;
  static constexpr std::uint64_t kStack = 0x3000;  // top of the data page

  // The physical pages the attacker picks.
  struct Pages {
    std::uint64_t secs;
    std::uint64_t tcs;
    std::uint64_t code;
    std::uint64_t data;
  };

  AttackDevice& dev;
  Pages pa;
  std::uint32_t status = HIX_OK;  // the first ENCLS that failed, or HIX_OK
  const char* failed = "none";    // its leaf
  bool alive = false;

  RunnableEnclave(AttackDevice& d, Pages at, const Secret& secret) : dev(d), pa(at) {
    status = dev.encls({HIX_ECREATE, 0, pa.secs, 0, kBase, kSize, 0});
    if (status != HIX_OK) {
      failed = "ecreate";
      return;
    }
    alive = true;
    hix_tcs tcs{};
    tcs.entry = kCode;
    tcs.stack = kStack;
    Page code{};
    const auto code_len =
        static_cast<std::size_t>(hix_platform_enclave_code_end - hix_platform_enclave_code);
    if (code_len > code.size()) fail("enclave code of %zu bytes", code_len);
    std::memcpy(code.data(), hix_platform_enclave_code, code_len);
    Page data{};
    std::copy(secret.begin(), secret.end(), data.begin());
    if (!add(pa.tcs, kTcs, HIX_PAGE_R | HIX_PAGE_W | HIX_PAGE_TYPE_TCS, &tcs) ||
        !add(pa.code, kCode, HIX_PAGE_R | HIX_PAGE_X | HIX_PAGE_TYPE_REG, code.data()) ||
        !add(pa.data, kData, HIX_PAGE_R | HIX_PAGE_W | HIX_PAGE_TYPE_REG, data.data())) {
      return;
    }
    status = dev.encls({HIX_EINIT, 0, 0, pa.secs, 0, 0, 0});
    if (status != HIX_OK) failed = "einit";
  }
  bool ok() const { return status == HIX_OK; }
  // EDESTROY: the platform zeroes every page of the enclave (spec §2.1).
  std::uint32_t destroy() {
    if (!alive) return HIX_ERR_BAD_SECS;
    alive = false;
    return dev.encls({HIX_EDESTROY, 0, 0, pa.secs, 0, 0, 0});
  }
  ~RunnableEnclave() { destroy(); }
  RunnableEnclave(const RunnableEnclave&) = delete;
  RunnableEnclave& operator=(const RunnableEnclave&) = delete;

 private:
  bool add(std::uint64_t page_pa, std::uint64_t offset, std::uint64_t flags, const void* src) {
    // reinterpret_cast: the ioctl ABI carries user pointers as integers.
    status = dev.encls({HIX_EADD, 0, page_pa, pa.secs, kBase + offset, flags,
                        reinterpret_cast<std::uint64_t>(src)});
    if (status != HIX_OK) failed = "eadd";
    return status == HIX_OK;
  }
};

// Maps the enclave's three pages at their linear addresses in the calling
// process, onto their EPC pages (`dev` must stay open while the mapping is
// used: closing it undoes the rewrite).
inline void map_enclave(AttackDevice& dev, const RunnableEnclave::Pages& pa) {
  // reinterpret_cast: mmap takes the fixed address as a pointer.
  void* want =
      reinterpret_cast<void*>(RunnableEnclave::kBase);  // NOLINT(performance-no-int-to-ptr)
  void* got = mmap(want, 3 * HIX_PAGE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (got != want) fail("mmap ELRANGE: %s", strerror(errno));
  auto* bytes = static_cast<volatile std::uint8_t*>(got);
  const std::uint64_t frames[] = {pa.tcs, pa.code, pa.data};
  for (std::size_t i = 0; i < 3; ++i) {
    bytes[i * HIX_PAGE_SIZE] = 0;  // a PTE to rewrite
    hix_attack_remap req{RunnableEnclave::kBase + i * HIX_PAGE_SIZE, frames[i], 0};
    if (const int e = dev.call(HIX_ATTACK_REMAP_USER_PAGE, &req); e != 0) {
      fail("REMAP_USER_PAGE: %s", strerror(e));
    }
  }
}

// EENTER at the TCS; returns RAX after the EEXIT (HIX_EEXIT: the leaf the
// enclave's code left in it) or the abort (HIX_ERR_ENCLAVE_ABORTED), or
// EENTER's own status.
inline std::uint64_t eenter(std::uint64_t mode, volatile spinner_shared* shared) {
  std::uint64_t rax = HIX_EENTER;
  // reinterpret_cast: the enclave takes the shared page's address as an integer.
  auto arg = reinterpret_cast<std::uint64_t>(shared);
  std::uint64_t rbx = RunnableEnclave::kBase + RunnableEnclave::kTcs;
  // EEXIT and the abort both continue at label 1 (RCX: the return point and
  // the AEP); RSP and RBP come back, every other register may not.
  asm volatile(
      "lea 1f(%%rip), %%rcx\n\t"
      ".byte 0x0f, 0x01, 0xd7\n" /* ENCLU[EENTER] */
      "1:\n\t"
      : "+a"(rax), "+b"(rbx), "+D"(arg), "+S"(mode)
      :
      : "rcx", "rdx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "xmm0", "memory", "cc");
  return rax;
}

}  // namespace hix::platform
