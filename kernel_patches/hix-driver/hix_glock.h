/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A device lock (docs/specs/hix-isa.md §11 HIX_IOC_GLOCK, §12 EGLOCK): the
 * memory BARs of one PCI device and the ELRANGE offsets (GLRANGEs) where the
 * enclave maps them.
 */
#ifndef HIX_GLOCK_H
#define HIX_GLOCK_H

#include <linux/bitops.h>
#include <linux/list.h>
#include <linux/types.h>

#include "hix/abi/hix_ioctl.h"
#include "hix/abi/hix_isa.h"

/* One BAR: its frames, and where in ELRANGE they are mapped. */
struct hix_glock_bar {
	u64 offset; /* from the ELRANGE base, page aligned */
	u64 len; /* the BAR's length, a multiple of the page size */
	unsigned long pfn; /* the BAR's first frame */
};

struct hix_glock {
	struct list_head node; /* in hix_encl.glocks once EGLOCK succeeded */
	u32 bdf;
	u32 bar_mask; /* bit i: bars[i] is valid */
	struct hix_glock_bar bars[HIX_NUM_BARS];
};

/*
 * Fills @glock from a HIX_IOC_GLOCK request: checks the request's own fields
 * and reads the device's memory BARs. -EINVAL for a malformed request, a BAR
 * that is not an assigned, page-aligned memory BAR or an unaligned offset;
 * -ENODEV when no PCI device has that BDF. Never claims or enables the device.
 */
int hix_glock_resolve(struct hix_glock *glock, const struct hix_ioc_glock *req);

/*
 * Whether [@offset, @offset + @len) overlaps a BAR range of @glock, and
 * whether two BAR ranges of @glock overlap. The ranges must lie inside
 * ELRANGE (no end overflows).
 */
bool hix_glock_overlaps(const struct hix_glock *glock, u64 offset, u64 len);
bool hix_glock_self_overlaps(const struct hix_glock *glock);

/*
 * The frame mapped at ELRANGE offset @offset by @glock, if a BAR range of
 * @glock covers it.
 */
bool hix_glock_pfn(const struct hix_glock *glock, u64 offset,
		   unsigned long *pfn);

/* Whether @glock maps BAR @i. */
static inline bool hix_glock_maps(const struct hix_glock *glock, unsigned int i)
{
	return glock->bar_mask & BIT(i);
}

#endif /* HIX_GLOCK_H */
