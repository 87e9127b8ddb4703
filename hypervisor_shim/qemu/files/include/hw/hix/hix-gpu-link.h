/*
 * OpenHIX: the hix-gpu frontend's link to the device server
 * (docs/specs/hix-gpu.md §10, include/hix/abi/vgpu_proto.h).
 *
 * Every call returns false once the link has failed (the server died or
 * broke the protocol); the frontend then reports the device failed.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_HIX_HIX_GPU_LINK_H
#define HW_HIX_HIX_GPU_LINK_H

#include "qapi/error.h"
#include "hix/abi/vgpu_proto.h"

typedef struct HixGpuLink {
    int fd;
    bool failed;
    uint64_t next_tag;
} HixGpuLink;

/* Connect to the server's socket and exchange HELLO. */
bool hix_gpu_link_connect(HixGpuLink *l, const char *path, Error **errp);
bool hix_gpu_link_guest_ram(HixGpuLink *l, int memfd,
                            const struct hix_vgpu_ram_region *regions,
                            uint32_t count);
bool hix_gpu_link_dma_deny(HixGpuLink *l, const struct hix_vgpu_range *ranges,
                           uint32_t count);
bool hix_gpu_link_read(HixGpuLink *l, uint64_t offset, unsigned size,
                       uint64_t *value);
bool hix_gpu_link_write(HixGpuLink *l, uint64_t offset, unsigned size,
                        uint64_t value);
bool hix_gpu_link_set_lock(HixGpuLink *l, bool locked, uint64_t owner);
bool hix_gpu_link_reset(HixGpuLink *l);
/* Hang up (the server exits when its connection closes). */
void hix_gpu_link_close(HixGpuLink *l);

#endif /* HW_HIX_HIX_GPU_LINK_H */
