/* hix-gpu sealed-tensor chunks, the crypto engine's format
 * (docs/specs/hix-gpu.md §7.1). */
#ifndef HIX_ABI_VGPU_CHUNK_H
#define HIX_ABI_VGPU_CHUNK_H

#include <stdint.h>

#include "hix/abi/vgpu_status.h"

#define HIX_VGPU_CHUNK_MAGIC 0x43535848u /* ASCII "HXSC" in memory order */
#define HIX_VGPU_CHUNK_VERSION 1u
#define HIX_VGPU_CHUNK_BYTES 65536u /* plaintext bytes per full chunk */
#define HIX_VGPU_CHUNK_HEADER_BYTES 32u
#define HIX_VGPU_CHUNK_TAG_BYTES 16u
#define HIX_VGPU_CHUNK_NONCE_BYTES 12u
/* Distance between consecutive chunks of one sealed tensor. */
#define HIX_VGPU_CHUNK_STRIDE \
  (HIX_VGPU_CHUNK_HEADER_BYTES + HIX_VGPU_CHUNK_BYTES + HIX_VGPU_CHUNK_TAG_BYTES)
/* Tensor ids with this bit are sealed by the device (DMA_OUT_ENCRYPT). */
#define HIX_VGPU_TENSOR_ID_DEVICE (1ull << 63)
#define HIX_VGPU_TENSOR_MAX_BYTES (1ull << 40)

struct hix_vgpu_chunk_header {
  uint32_t magic;        /* HIX_VGPU_CHUNK_MAGIC */
  uint8_t version;       /* HIX_VGPU_CHUNK_VERSION */
  uint8_t key_id;        /* key slot the chunk is sealed for */
  uint16_t reserved;     /* 0 */
  uint64_t tensor_id;    /* bit 63: sealed by the device */
  uint32_t chunk_index;  /* position of this chunk */
  uint32_t chunk_count;  /* chunks in the tensor */
  uint64_t tensor_bytes; /* plaintext bytes of the whole tensor */
};

HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_chunk_header) == HIX_VGPU_CHUNK_HEADER_BYTES,
                       "spec §7.1");
HIX_VGPU_STATIC_ASSERT(__builtin_offsetof(struct hix_vgpu_chunk_header, tensor_id) == 8,
                       "spec §7.1");
HIX_VGPU_STATIC_ASSERT(__builtin_offsetof(struct hix_vgpu_chunk_header, tensor_bytes) == 24,
                       "spec §7.1");

#endif /* HIX_ABI_VGPU_CHUNK_H */
