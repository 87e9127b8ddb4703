/* The GPU enclave's ecalls (docs/specs/hix-session.md §9): the buffer
 * layouts shared by the enclave and its untrusted host, hixd. Every buffer
 * is copied into the enclave once; outputs are written back only when the
 * ecall returns HIX_ECALL_OK (SDK §2), so each ecall reports its session
 * status inside the buffer and returns HIX_ECALL_OK unless the buffer itself
 * was unusable. */
#ifndef HIX_GPU_ENCLAVE_ABI_H
#define HIX_GPU_ENCLAVE_ABI_H

#include <stdint.h>

#include "hix/abi/hix_session.h"

enum gpu_enclave_ecall {
  GPU_ENCLAVE_REPORT = 0, /* SDK standard report ecall */
  GPU_ENCLAVE_INIT = 1,
  GPU_ENCLAVE_OPEN = 2,
  GPU_ENCLAVE_CALL = 3,
  GPU_ENCLAVE_DROP = 4,
  GPU_ENCLAVE_STATS = 5,
};

/* Untrusted memory the enclave may use: a linear address in hixd's address
 * space (outside ELRANGE) and the guest-physical address the device sees. */
struct gpu_enclave_area {
  uint64_t linear;
  uint64_t gpa;
  uint64_t bytes;
};

struct gpu_enclave_init {
  /* in */
  uint32_t bdf;
  uint32_t ring_entries;        /* power of two, 1..4096 */
  uint64_t glrange;             /* linear base where BAR0 is mapped (GLRANGE) */
  struct gpu_enclave_area ring; /* ring entries, then encrypted command buffers */
  /* out */
  uint32_t status; /* enum hix_session_status */
  uint32_t caps;   /* the device's CAPS register */
  uint8_t enclave_pk[HIX_SESSION_PK_BYTES];
};

struct gpu_enclave_open {
  /* in */
  uint8_t client_pk[HIX_SESSION_PK_BYTES];
  uint8_t nonce[HIX_SESSION_NONCE_BYTES];
  uint32_t extent_count; /* 1..HIX_SESSION_MAX_EXTENTS */
  uint32_t reserved;
  struct gpu_enclave_area extents[HIX_SESSION_MAX_EXTENTS]; /* the window, in order */
  /* out */
  uint32_t status;
  uint32_t session;
  uint8_t enclave_pk[HIX_SESSION_PK_BYTES];
  uint8_t report[HIX_SESSION_REPORT_BYTES];
};

/* The largest sealed response: header, status, HIX_MSG_ALLOC_MAX handles, tag. */
#define GPU_ENCLAVE_CALL_RESPONSE_MAX \
  (HIX_MSG_HEADER_BYTES + 8u + 4u * HIX_MSG_ALLOC_MAX + HIX_MSG_TAG_BYTES)

/* CALL: in: header then `length` bytes of sealed request; out: the same
 * header with `status`, then `length` bytes of sealed response (when status
 * is OK) in the same buffer. The buffer must hold the larger of the two:
 * at least sizeof(struct gpu_enclave_call) + max(length,
 * GPU_ENCLAVE_CALL_RESPONSE_MAX) bytes, else the ecall returns
 * HIX_ECALL_BAD_SIZE and changes nothing. Bytes after the response are
 * zeroed. */
struct gpu_enclave_call {
  uint32_t session;
  uint32_t status; /* out */
  uint32_t length; /* in: request bytes; out: response bytes */
  uint32_t detail; /* out: the status detail (§8) for unsealed rejections */
};

struct gpu_enclave_drop {
  uint32_t session;
  uint32_t status; /* out */
};

struct gpu_enclave_stats {
  uint64_t sessions_opened;
  uint64_t sessions_closed;
  uint64_t sessions_live;
  uint64_t messages_accepted;
  uint64_t rejected[16];   /* by enum hix_session_status */
  uint64_t validation[16]; /* by enum hix_validation_reason */
  uint64_t submits;
  uint64_t device_errors;
  /* 1 once a device error found the device failed (STATUS.ERROR or READY
   * clear: its server is gone, hix-gpu spec §10.6); this enclave can serve
   * no request again, hixd destroys it and starts a new one. */
  uint64_t device_lost;
};

HIX_VGPU_STATIC_ASSERT(sizeof(struct gpu_enclave_area) == 24, "layout");
HIX_VGPU_STATIC_ASSERT(sizeof(struct gpu_enclave_init) == 16 + 24 + 8 + 32, "layout");
HIX_VGPU_STATIC_ASSERT(sizeof(struct gpu_enclave_call) == 16, "layout");

#endif /* HIX_GPU_ENCLAVE_ABI_H */
