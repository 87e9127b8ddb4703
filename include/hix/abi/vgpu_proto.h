/* The QEMU frontend <-> hix-vgpu-server protocol (docs/specs/hix-gpu.md §10).
 *
 * One SOCK_SEQPACKET packet per message: struct hix_vgpu_msg_header, then the
 * payload for its type. Replies carry type | HIX_VGPU_MSG_REPLY and the
 * request's tag. GUEST_RAM carries one memfd in SCM_RIGHTS. */
#ifndef HIX_ABI_VGPU_PROTO_H
#define HIX_ABI_VGPU_PROTO_H

#include <stdint.h>

#include "hix/abi/vgpu_status.h"

#define HIX_VGPU_PROTO_VERSION 1u
#define HIX_VGPU_MSG_MAX 4096u
#define HIX_VGPU_MSG_REPLY 0x80000000u
#define HIX_VGPU_MAX_RAM_REGIONS 8u
#define HIX_VGPU_MAX_DENY_RANGES 250u

enum hix_vgpu_msg_type {
  HIX_VGPU_MSG_HELLO = 0x01,
  HIX_VGPU_MSG_GUEST_RAM = 0x02,
  HIX_VGPU_MSG_DMA_DENY = 0x03,
  HIX_VGPU_MSG_MMIO_READ = 0x04,
  HIX_VGPU_MSG_MMIO_WRITE = 0x05,
  HIX_VGPU_MSG_SET_LOCK = 0x06,
  HIX_VGPU_MSG_RESET = 0x07,
  HIX_VGPU_MSG_NAK = 0x7F, /* reply type (with HIX_VGPU_MSG_REPLY) to an unparseable request */
};

struct hix_vgpu_msg_header {
  uint32_t type; /* enum hix_vgpu_msg_type, | HIX_VGPU_MSG_REPLY in replies */
  uint32_t size; /* payload bytes after this header */
  uint64_t tag;  /* chosen by the frontend, echoed in the reply */
};

struct hix_vgpu_hello {
  uint32_t proto_version;
  uint32_t reserved;
};

struct hix_vgpu_hello_reply {
  uint32_t proto_version;
  uint32_t id;      /* the ID register */
  uint32_t version; /* the VERSION register */
  uint32_t reserved;
};

struct hix_vgpu_ram_region {
  uint64_t gpa;       /* guest-physical start */
  uint64_t size;      /* bytes */
  uint64_t fd_offset; /* offset of gpa in the memfd */
};

/* GUEST_RAM: followed by count struct hix_vgpu_ram_region. */
struct hix_vgpu_guest_ram {
  uint32_t count;
  uint32_t reserved;
};

struct hix_vgpu_range {
  uint64_t gpa;
  uint64_t size;
};

/* DMA_DENY: followed by count struct hix_vgpu_range. */
struct hix_vgpu_dma_deny {
  uint32_t count;
  uint32_t reserved;
};

struct hix_vgpu_mmio_read {
  uint64_t offset; /* BAR0 offset */
  uint32_t size;   /* access width in bytes */
  uint32_t reserved;
};

struct hix_vgpu_mmio_read_reply {
  uint64_t value;
};

struct hix_vgpu_mmio_write {
  uint64_t offset;
  uint32_t size;
  uint32_t reserved;
  uint64_t value;
};

struct hix_vgpu_set_lock {
  uint32_t locked; /* 1 = a GPU enclave holds the lock */
  uint32_t reserved;
  uint64_t owner; /* opaque identity of the locking enclave */
};

/* Reply to GUEST_RAM, DMA_DENY, SET_LOCK, RESET and NAK. */
struct hix_vgpu_ack {
  uint32_t status; /* enum hix_vgpu_status */
  uint32_t reserved;
};

HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_msg_header) == 16, "spec §10");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_hello_reply) == 16, "spec §10");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_ram_region) == 24, "spec §10");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_range) == 16, "spec §10");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_mmio_write) == 24, "spec §10");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_set_lock) == 16, "spec §10");
HIX_VGPU_STATIC_ASSERT(16 + 8 + HIX_VGPU_MAX_DENY_RANGES * 16 <= HIX_VGPU_MSG_MAX,
                       "a full deny map fits one packet");

#endif /* HIX_ABI_VGPU_PROTO_H */
