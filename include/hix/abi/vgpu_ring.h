/* hix-gpu command-ring entries (docs/specs/hix-gpu.md §5). */
#ifndef HIX_ABI_VGPU_RING_H
#define HIX_ABI_VGPU_RING_H

#include <stdint.h>

#include "hix/abi/vgpu_cmd.h" /* HIX_VGPU_CMDBUF_MIN, _MAX */
#include "hix/abi/vgpu_status.h"

#define HIX_VGPU_RING_ENTRY_BYTES 64u
#define HIX_VGPU_RING_AAD_BYTES 48u /* entry bytes authenticated as AAD */
#define HIX_VGPU_RING_TAG_BYTES 16u
#define HIX_VGPU_RING_ALIGN 64u
/* The first four nonce bytes of a ring entry: ASCII "HXRG". */
#define HIX_VGPU_RING_NONCE_PREFIX "HXRG"

struct hix_vgpu_ring_entry {
  uint64_t seq;         /* sequence number, bound to the channel key */
  uint32_t ctx;         /* context the command buffer runs in */
  uint32_t flags;       /* must be 0 */
  uint64_t cmd_gpa;     /* guest-physical address of the command buffer */
  uint32_t cmd_len;     /* its length in bytes */
  uint32_t fence;       /* written to FENCE on completion */
  uint8_t reserved[16]; /* must be 0 */
  uint8_t tag[16];      /* Poly1305 tag (protected mode) */
};

HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_ring_entry) == HIX_VGPU_RING_ENTRY_BYTES,
                       "spec §5.1");
HIX_VGPU_STATIC_ASSERT(__builtin_offsetof(struct hix_vgpu_ring_entry, tag) ==
                           HIX_VGPU_RING_AAD_BYTES,
                       "spec §5.1");
HIX_VGPU_STATIC_ASSERT(__builtin_offsetof(struct hix_vgpu_ring_entry, fence) == 28, "spec §5.1");

#endif /* HIX_ABI_VGPU_RING_H */
