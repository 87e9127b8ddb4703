/* Protected inference sessions: the client <-> hixd frames and the sealed
 * client <-> GPU enclave messages (docs/specs/hix-session.md). Shared by the
 * GPU enclave, its session core, hixd and every client. */
#ifndef HIX_ABI_HIX_SESSION_H
#define HIX_ABI_HIX_SESSION_H

#include <stdint.h>

#include "hix/abi/vgpu_status.h"

#define HIX_SESSION_REVISION 1u
#define HIX_SESSION_MAX 8u       /* live sessions at once (§4) */
#define HIX_SESSION_KEY_SLOTS 8u /* slot 0: tensor key; 1..7: model keys */
#define HIX_SESSION_TENSOR_SLOT 0u
#define HIX_SESSION_MAX_EXTENTS 16u /* extents of one staging window */
#define HIX_SESSION_NONCE_BYTES 32u
#define HIX_SESSION_PK_BYTES 32u
#define HIX_SESSION_KEY_BYTES 32u
#define HIX_SESSION_REPORT_BYTES 256u
#define HIX_SESSION_BIND_LABEL "OpenHIX-session-v1"      /* 18 bytes, §3.2 */
#define HIX_SESSION_TENSOR_LABEL "OpenHIX-tensor-key-v1" /* 21 bytes, §3.3 */
#define HIX_SESSION_PORT 7000u                           /* hixd's guest TCP port (§2) */

/* ---- §2: frames (client <-> hixd) ---- */

#define HIX_FRAME_MAGIC 0x31445848u /* ASCII "HXD1" in memory order */
#define HIX_FRAME_REPLY 0x8000u
#define HIX_FRAME_MAX (16u << 20) /* payload bytes */

enum hix_frame_type {
  HIX_FRAME_INFO = 0x01,
  HIX_FRAME_OPEN = 0x02,
  HIX_FRAME_CALL = 0x03,
  HIX_FRAME_PUT = 0x04,
  HIX_FRAME_GET = 0x05,
  HIX_FRAME_LOAD = 0x06,
  HIX_FRAME_CLOSE = 0x07,
};

struct hix_frame_header {
  uint32_t magic;  /* HIX_FRAME_MAGIC */
  uint16_t type;   /* enum hix_frame_type, | HIX_FRAME_REPLY in replies */
  uint16_t flags;  /* 0 */
  uint32_t length; /* payload bytes that follow */
  uint32_t status; /* replies: enum hix_session_status; requests: 0 */
};

#define HIX_INFO_PLAIN 0x1u /* hixd runs in plain mode (§10) */
#define HIX_INFO_MAX_DISKS 8u

struct hix_frame_info {
  uint32_t revision; /* HIX_SESSION_REVISION */
  uint32_t flags;    /* HIX_INFO_* */
  uint32_t max_sessions;
  uint32_t disk_count;
  uint64_t max_window_bytes;
  uint64_t disk_bytes[HIX_INFO_MAX_DISKS]; /* size of disk i (/dev/vda, vdb, ...) */
};

struct hix_open_request {
  uint8_t client_pk[HIX_SESSION_PK_BYTES];
  uint8_t nonce[HIX_SESSION_NONCE_BYTES];
  uint64_t window_bytes; /* staging window the session needs (multiple of 4096) */
};

#define HIX_OPEN_PLAIN 0x1u /* no report: plain mode (§3.2) */

/* One physically contiguous piece of a staging window. The guest-physical
 * address is untrusted information (the enclave validates DMA against it);
 * clients use it to address DMA ops. */
struct hix_window_extent {
  uint64_t offset; /* in the window (PUT/GET/LOAD offsets) */
  uint64_t gpa;    /* guest-physical address of its first byte */
  uint64_t length; /* bytes */
};

struct hix_open_reply {
  uint32_t session;
  uint32_t flags; /* HIX_OPEN_* */
  uint8_t enclave_pk[HIX_SESSION_PK_BYTES];
  uint8_t report[HIX_SESSION_REPORT_BYTES]; /* struct hix_report (hix_isa.h) */
  uint32_t extent_count;
  uint32_t reserved;
  struct hix_window_extent extents[HIX_SESSION_MAX_EXTENTS];
};

struct hix_put_request {
  uint64_t offset; /* window offset; the bytes follow */
};

struct hix_get_request {
  uint64_t offset;
  uint64_t length; /* <= HIX_FRAME_MAX */
};

struct hix_load_request {
  uint32_t disk; /* 0 = /dev/vda, 1 = /dev/vdb, ... */
  uint32_t reserved;
  uint64_t disk_offset;   /* multiple of 4096 */
  uint64_t window_offset; /* multiple of 4096 */
  uint64_t length;        /* multiple of 4096, or ending at the disk's end */
};

struct hix_load_reply {
  uint64_t bytes;
  uint64_t nanoseconds;
};

/* ---- §5: sealed messages (client <-> enclave) ---- */

#define HIX_MSG_MAGIC 0x4D535848u /* ASCII "HXSM" in memory order */
#define HIX_MSG_VERSION 1u
#define HIX_MSG_HEADER_BYTES 32u
#define HIX_MSG_TAG_BYTES 16u
#define HIX_MSG_NONCE_BYTES 12u
#define HIX_MSG_MAX ((1u << 20) - 4096u) /* plaintext bytes */
#define HIX_MSG_ALLOC_MAX 64u

enum hix_msg_direction {
  HIX_MSG_TO_ENCLAVE = 1,
  HIX_MSG_TO_CLIENT = 2,
};

enum hix_msg_type {
  HIX_MSG_ALLOC = 0x01,
  HIX_MSG_FREE = 0x02,
  HIX_MSG_MODEL_KEY = 0x03,
  HIX_MSG_SUBMIT = 0x04,
  HIX_MSG_CLOSE = 0x05,
};

struct hix_msg_header {
  uint32_t magic;     /* HIX_MSG_MAGIC */
  uint8_t version;    /* HIX_MSG_VERSION */
  uint8_t direction;  /* enum hix_msg_direction */
  uint16_t type;      /* enum hix_msg_type */
  uint32_t session;   /* session id */
  uint32_t reserved;  /* 0 */
  uint64_t counter;   /* 1, 2, ... per direction */
  uint32_t length;    /* plaintext bytes */
  uint32_t reserved2; /* 0 */
};

/* Every response's plaintext starts with this. */
struct hix_msg_status {
  uint32_t status; /* enum hix_session_status */
  uint32_t detail; /* §8 */
};

struct hix_msg_alloc {
  uint32_t count; /* 1..HIX_MSG_ALLOC_MAX; count u64 sizes follow */
  uint32_t reserved;
};

struct hix_msg_free {
  uint32_t count; /* 1..HIX_MSG_ALLOC_MAX; count u32 handles follow */
  uint32_t reserved;
};

struct hix_msg_model_key {
  uint32_t slot; /* 1..HIX_SESSION_KEY_SLOTS-1 */
  uint32_t reserved;
  uint8_t key[HIX_SESSION_KEY_BYTES];
};

struct hix_submit_result {
  uint32_t device_status; /* enum hix_vgpu_status of the command buffer */
  uint32_t op_index;      /* failing op (LAST_ERROR bits 31..16) */
  uint32_t fence;
  uint32_t reserved;
};

/* ---- §8: status codes ---- */

enum hix_session_status {
  HIX_SESSION_OK = 0,
  HIX_SESSION_MALFORMED = 1,
  HIX_SESSION_UNKNOWN_SESSION = 2,
  HIX_SESSION_FORGED = 3,
  HIX_SESSION_REPLAYED = 4,
  HIX_SESSION_REORDERED = 5,
  HIX_SESSION_BAD_REQUEST = 6,
  HIX_SESSION_VALIDATION = 7,
  HIX_SESSION_DEVICE = 8,
  HIX_SESSION_NO_RESOURCE = 9,
  HIX_SESSION_BUSY = 10,
  HIX_SESSION_OUT_OF_RANGE = 11,
  HIX_SESSION_IO_ERROR = 12,
  HIX_SESSION_NOT_READY = 13,
  HIX_SESSION_INTERNAL = 14,
};

/* §8.1: VALIDATION detail = reason << 16 | op index. */
enum hix_validation_reason {
  HIX_VALID_HEADER = 1,
  HIX_VALID_OPCODE = 2,
  HIX_VALID_RECORD = 3,
  HIX_VALID_HANDLE = 4,
  HIX_VALID_TREF = 5,
  HIX_VALID_LOOP = 6,
  HIX_VALID_DMA_RANGE = 7,
  HIX_VALID_KEY_SLOT = 8,
  HIX_VALID_TENSOR_ID = 9,
};

HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_frame_header) == 16, "hix-session §2");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_frame_info) == 88, "hix-session §2.1");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_open_request) == 72, "hix-session §2.1");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_window_extent) == 24, "hix-session §6");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_open_reply) == 8 + 32 + 256 + 8 + 16 * 24,
                       "hix-session §2.1");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_load_request) == 32, "hix-session §2.1");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_msg_header) == HIX_MSG_HEADER_BYTES, "hix-session §5.1");
HIX_VGPU_STATIC_ASSERT(__builtin_offsetof(struct hix_msg_header, counter) == 16,
                       "hix-session §5.1");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_msg_status) == 8, "hix-session §5.2");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_msg_model_key) == 40, "hix-session §5.2");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_submit_result) == 16, "hix-session §5.2");

#endif /* HIX_ABI_HIX_SESSION_H */
