// ENCLU leaves for enclave code: EREPORT and EGETKEY (docs/specs/hix-isa.md §2.2).
#include "hix_sdk/enclu.h"

#include <stdint.h>

extern "C" hix_status hix_ereport(const uint8_t report_data[HIX_REPORT_DATA_SIZE],
                                  hix_report* out) {
  uint64_t rax = HIX_EREPORT;
  const uint8_t* rbx = report_data;
  hix_report* rcx = out;
  // asm: ENCLU has no assembler mnemonic here; leaf in EAX, operands in RBX/RCX, status in RAX.
  asm volatile(".byte 0x0f, 0x01, 0xd7" : "+a"(rax), "+b"(rbx), "+c"(rcx) : : "memory", "cc");
  return static_cast<hix_status>(rax);
}

extern "C" hix_status hix_egetkey(const hix_keyrequest* request, uint8_t key[HIX_KEY_SIZE]) {
  uint64_t rax = HIX_EGETKEY;
  const hix_keyrequest* rbx = request;
  uint8_t* rcx = key;
  // asm: ENCLU has no assembler mnemonic here; leaf in EAX, operands in RBX/RCX, status in RAX.
  asm volatile(".byte 0x0f, 0x01, 0xd7" : "+a"(rax), "+b"(rbx), "+c"(rcx) : : "memory", "cc");
  return static_cast<hix_status>(rax);
}
