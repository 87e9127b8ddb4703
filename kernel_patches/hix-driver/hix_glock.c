// SPDX-License-Identifier: GPL-2.0
/*
 * A device lock's PCI side (docs/specs/hix-isa.md §11 HIX_IOC_GLOCK, §12):
 * which BARs of which device, at which ELRANGE offsets.
 *
 * The device has no Linux driver and gets none here: the driver only reads
 * the resources the PCI core assigned (no pci_enable_device, no
 * pci_request_regions). Whether the device may be locked, and whether its
 * memory decoding is on, is the CPU's decision at EGLOCK.
 */
#include <linux/build_bug.h>
#include <linux/mm.h>
#include <linux/pci.h>

#include "hix_glock.h"

static_assert(HIX_NUM_BARS == PCI_STD_NUM_BARS);

/* A BDF names bus << 8 | device << 3 | function of PCI segment 0. */
#define HIX_BDF_MAX 0xffffu

/*
 * Reads BAR @bar of @pdev into @out: an assigned memory BAR that starts and
 * ends on page boundaries (a BAR sharing a page with something else cannot be
 * mapped alone).
 */
static int hix_glock_read_bar(struct pci_dev *pdev, unsigned int bar,
			      struct hix_glock_bar *out)
{
	unsigned long flags = pci_resource_flags(pdev, bar);
	resource_size_t start = pci_resource_start(pdev, bar);
	resource_size_t len = pci_resource_len(pdev, bar);

	if (!(flags & IORESOURCE_MEM) || (flags & IORESOURCE_UNSET) || !len)
		return -EINVAL;
	if (!PAGE_ALIGNED(start) || !PAGE_ALIGNED(len))
		return -EINVAL;
	out->pfn = PHYS_PFN(start);
	out->len = len;
	return 0;
}

int hix_glock_resolve(struct hix_glock *glock, const struct hix_ioc_glock *req)
{
	struct pci_dev *pdev;
	unsigned int i;
	int ret = 0;

	INIT_LIST_HEAD(&glock->node);
	glock->bdf = req->bdf;
	glock->bar_mask = req->bar_mask;
	if (req->reserved || req->bdf > HIX_BDF_MAX || !req->bar_mask ||
	    req->bar_mask & ~GENMASK(HIX_NUM_BARS - 1, 0))
		return -EINVAL;
	for (i = 0; i < HIX_NUM_BARS; i++) {
		if (!hix_glock_maps(glock, i))
			continue;
		if (!PAGE_ALIGNED(req->offsets[i]))
			return -EINVAL;
		glock->bars[i].offset = req->offsets[i];
	}

	pdev = pci_get_domain_bus_and_slot(0, PCI_BUS_NUM(req->bdf),
					   req->bdf & 0xff);
	if (!pdev)
		return -ENODEV;
	for (i = 0; i < HIX_NUM_BARS; i++) {
		if (!hix_glock_maps(glock, i))
			continue;
		ret = hix_glock_read_bar(pdev, i, &glock->bars[i]);
		if (ret)
			break;
	}
	pci_dev_put(pdev);
	return ret;
}

/* Both ranges are inside ELRANGE, so neither end overflows. */
static bool hix_ranges_overlap(u64 a, u64 a_len, u64 b, u64 b_len)
{
	return a < b + b_len && b < a + a_len;
}

bool hix_glock_overlaps(const struct hix_glock *glock, u64 offset, u64 len)
{
	unsigned int i;

	for (i = 0; i < HIX_NUM_BARS; i++) {
		if (!hix_glock_maps(glock, i))
			continue;
		if (hix_ranges_overlap(glock->bars[i].offset,
				       glock->bars[i].len, offset, len))
			return true;
	}
	return false;
}

bool hix_glock_pfn(const struct hix_glock *glock, u64 offset,
		   unsigned long *pfn)
{
	const struct hix_glock_bar *bar;
	unsigned int i;

	for (i = 0; i < HIX_NUM_BARS; i++) {
		bar = &glock->bars[i];
		if (!hix_glock_maps(glock, i) || offset < bar->offset ||
		    offset - bar->offset >= bar->len)
			continue;
		*pfn = bar->pfn + ((offset - bar->offset) >> PAGE_SHIFT);
		return true;
	}
	return false;
}

bool hix_glock_self_overlaps(const struct hix_glock *glock)
{
	unsigned int i, j;

	for (i = 0; i < HIX_NUM_BARS; i++) {
		const struct hix_glock_bar *a = &glock->bars[i];

		for (j = 0; j < i; j++) {
			const struct hix_glock_bar *b = &glock->bars[j];

			if (hix_glock_maps(glock, i) &&
			    hix_glock_maps(glock, j) &&
			    hix_ranges_overlap(a->offset, a->len, b->offset,
					       b->len))
				return true;
		}
	}
	return false;
}
