/* The HIX ISA: CPUID leaf, ENCLS/ENCLU leaves, enclave structures, status
 * codes (docs/specs/hix-isa.md). Plain C: shared by the QEMU shim, hix.ko,
 * the freestanding enclave SDK and our C++ code. */
#ifndef HIX_ABI_HIX_ISA_H
#define HIX_ABI_HIX_ISA_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdint.h>
#endif

/* §1: discovery */
#define HIX_CPUID_LEAF 0x48580000u
#define HIX_CPUID_SIGNATURE 0x48495831u /* "HIX1" */
#define HIX_ISA_VERSION_MAJOR 1u
#define HIX_ISA_VERSION_MINOR 1u /* 1.1: EGLOCK */
#define HIX_ISA_VERSION ((HIX_ISA_VERSION_MAJOR << 16) | HIX_ISA_VERSION_MINOR)

/* §2: ENCLS leaves (EAX) */
enum hix_encls_leaf {
  HIX_ECREATE = 0,
  HIX_EADD = 1,
  HIX_EEXTEND = 2,
  HIX_EINIT = 3,
  HIX_EREMOVE = 4,
  HIX_EDESTROY = 5,
  HIX_EGLOCK = 6, /* revision 1.1, §12 */
};
#define HIX_ENCLS_LEAF_MASK 0x7Fu /* leaves 0..6 implemented */

/* §2: ENCLU leaves (EAX) */
enum hix_enclu_leaf {
  HIX_EREPORT = 0,
  HIX_EGETKEY = 1,
  HIX_EENTER = 2,
  HIX_EEXIT = 4,
};
#define HIX_ENCLU_LEAF_MASK 0x17u /* leaves 0, 1, 2, 4 */

#define HIX_PAGE_SIZE 4096u
#define HIX_EEXTEND_CHUNK 256u

/* EADD flags: permissions | type */
#define HIX_PAGE_R 0x1u
#define HIX_PAGE_W 0x2u
#define HIX_PAGE_X 0x4u
#define HIX_PAGE_PERM_MASK 0x7u
#define HIX_PAGE_TYPE_SHIFT 8
#define HIX_PAGE_TYPE_MASK (0xFFu << HIX_PAGE_TYPE_SHIFT)
#define HIX_PAGE_TYPE_REG (0u << HIX_PAGE_TYPE_SHIFT)
#define HIX_PAGE_TYPE_TCS (1u << HIX_PAGE_TYPE_SHIFT)
#define HIX_PAGE_TYPE_SECS (2u << HIX_PAGE_TYPE_SHIFT) /* EPCM only */

/* Enclave attributes */
#define HIX_ATTR_UNENFORCED (1ull << 63) /* report from an enforce=off platform */

#define HIX_MAX_ENCLAVES 64u

/* ECREATE operand (RBX) */
struct hix_secs_params {
  uint64_t base;
  uint64_t size;
  uint64_t attributes;
  uint64_t reserved[5];
};

/* EADD operand (RBX) */
struct hix_pageinfo {
  uint64_t src;
  uint64_t linaddr;
  uint64_t flags;
  uint64_t reserved;
};

/* Thread control structure: one EPC page of type TCS */
struct hix_tcs {
  uint64_t flags;
  uint64_t entry; /* offset from the ELRANGE base */
  uint64_t stack; /* offset from the ELRANGE base, 16-byte aligned */
  uint64_t reserved[509];
};

/* EGLOCK operand (RBX), §12 */
#define HIX_NUM_BARS 6u
struct hix_glock_params {
  uint32_t bdf; /* bus << 8 | device << 3 | function, segment 0 */
  uint32_t reserved0;
  uint64_t glrange[HIX_NUM_BARS]; /* linear base of each mapped BAR, 0 = not mapped */
  uint64_t reserved[1];
};

/* EREPORT's device field once the enclave holds a lock, §12 */
struct hix_report_device {
  uint32_t bdf;
  uint16_t vendor_id;
  uint16_t device_id;
  uint32_t locked; /* 1 */
  uint32_t reserved;
};

/* The requester tag the shim puts on the owner's GLRANGE translations
 * (MemTxAttrs.requester_id, with target_tlb_bit2 set), §13. */
#define HIX_REQUESTER_ENCLAVE(idx) (0x8000u | (uint32_t)(idx))

/* EGETKEY operand (RBX) */
#define HIX_KEY_SEAL 0u
struct hix_keyrequest {
  uint16_t name;
  uint16_t reserved[3];
  uint8_t id[32];
  uint8_t reserved2[24];
};
#define HIX_KEY_SIZE 32u

/* EREPORT output (RCX), §7 */
#define HIX_REPORT_VERSION 1u
#define HIX_REPORT_DATA_SIZE 64u
#define HIX_REPORT_SIGNED_SIZE 192u
struct hix_report {
  uint32_t version;
  uint32_t isa_version;
  uint64_t attributes;
  uint8_t mrenclave[32];
  uint8_t device[16];
  uint8_t report_data[64];
  uint8_t platform_key_id[32];
  uint8_t reserved[32];
  uint8_t signature[64];
};

/* §8: status codes (RAX) */
enum hix_status {
  HIX_OK = 0,
  HIX_ERR_INVALID_PARAM = 1,
  HIX_ERR_NOT_RAM = 2,
  HIX_ERR_PAGE_IN_USE = 3,
  HIX_ERR_NOT_EPC = 4,
  HIX_ERR_BAD_SECS = 5,
  HIX_ERR_ENCLAVE_STATE = 6,
  HIX_ERR_LINADDR_IN_USE = 7,
  HIX_ERR_NO_TCS = 8,
  HIX_ERR_ENCLAVE_ACTIVE = 9,
  HIX_ERR_CHILD_PRESENT = 10,
  HIX_ERR_BAD_TCS = 11,
  HIX_ERR_TCS_BUSY = 12,
  HIX_ERR_ENCLAVE_DEAD = 13,
  HIX_ERR_ENCLAVE_ABORTED = 14,
  HIX_ERR_NO_SPACE = 15,
  HIX_ERR_UNSUPPORTED = 16,
  HIX_ERR_NO_DEVICE = 17,
  HIX_ERR_DEVICE_LOCKED = 18,
};

/* Layout checks, tied to the spec's tables. */
#ifdef __cplusplus
#define HIX_STATIC_ASSERT static_assert
#else
#define HIX_STATIC_ASSERT _Static_assert
#endif
HIX_STATIC_ASSERT(sizeof(struct hix_secs_params) == 64, "spec §2.1");
HIX_STATIC_ASSERT(sizeof(struct hix_pageinfo) == 32, "spec §2.1");
HIX_STATIC_ASSERT(sizeof(struct hix_tcs) == 4096, "spec §4");
HIX_STATIC_ASSERT(sizeof(struct hix_keyrequest) == 64, "spec §2.2");
HIX_STATIC_ASSERT(sizeof(struct hix_glock_params) == 64, "spec §12");
HIX_STATIC_ASSERT(sizeof(struct hix_report_device) == 16, "spec §12");
HIX_STATIC_ASSERT(sizeof(struct hix_report) == 256, "spec §7");
HIX_STATIC_ASSERT(__builtin_offsetof(struct hix_report, mrenclave) == 16, "spec §7");
HIX_STATIC_ASSERT(__builtin_offsetof(struct hix_report, report_data) == 64, "spec §7");
HIX_STATIC_ASSERT(__builtin_offsetof(struct hix_report, platform_key_id) == 128, "spec §7");
HIX_STATIC_ASSERT(__builtin_offsetof(struct hix_report, signature) == HIX_REPORT_SIGNED_SIZE,
                  "spec §7");

#endif /* HIX_ABI_HIX_ISA_H */
