/* The SDK's enclave image and ecall conventions (docs/enclave-sdk.md), shared
 * by the enclave runtime and the untrusted loader. Not architectural: the
 * ISA only fixes EENTER/EEXIT (docs/specs/hix-isa.md §2.2, §4). Plain C. */
#ifndef HIX_SDK_ECALL_ABI_H
#define HIX_SDK_ECALL_ABI_H

#include <stdint.h>

/* Where the SDK's linker script places an image (the loader takes the real
 * value from the ELF file; this is the default). */
#define HIX_SDK_DEFAULT_BASE 0x0000200000000000ull

/* ELF program header type (in the OS-specific range) that marks the TCS
 * page(s) of an image: "HIX" in the low bytes. The page also lies in a
 * PT_LOAD segment that carries its contents. */
#define HIX_SDK_PT_TCS 0x60484958u

/* Symbol that every image carries: a 32-byte tag in .data, a harmless byte
 * to flip for the "modified image" tests (hix-image-tamper). */
#define HIX_SDK_IMAGE_TAG_SYMBOL "hix_image_tag"

/* The status an ecall returns in RDI (§4: "RDI = the ecall's status"). */
enum hix_ecall_status {
  HIX_ECALL_OK = 0,
  HIX_ECALL_UNKNOWN = 1,    /* no ecall with that number */
  HIX_ECALL_BAD_BUFFER = 2, /* the buffer wraps or overlaps ELRANGE */
  HIX_ECALL_NO_MEMORY = 3,  /* the enclave cannot copy a buffer that large */
  HIX_ECALL_BAD_SIZE = 4,   /* the ecall needs a different buffer size */
  HIX_ECALL_FAILED = 5,     /* the ecall's own operation failed */
};
#define HIX_ECALL_STATUS_MAX HIX_ECALL_FAILED

/* Largest ecall buffer the runtime copies in (it must also fit the heap). */
#define HIX_ECALL_MAX_BUFFER (1u << 20)

/* By convention ecall 0 of every SDK enclave is "report": the buffer is one
 * struct hix_report (256 bytes); its first 64 bytes are the caller's report
 * data on entry, and it holds the EREPORT output on return. hix-enclave-run
 * relies on it. */
#define HIX_ECALL_REPORT 0u

#endif /* HIX_SDK_ECALL_ABI_H */
