/* SPDX-License-Identifier: GPL-2.0 */
/*
 * DMA staging buffers (docs/specs/hix-isa.md §11.1): pinned guest RAM that a
 * device may DMA, owned by a file of its own and mapped into the process with
 * ordinary pages, so that O_DIRECT reads land in it.
 */
#ifndef HIX_STAGING_H
#define HIX_STAGING_H

#include <linux/compiler_types.h>

/*
 * The staging account of one open file of /dev/hix: the bytes of its live
 * buffers, against the staging_max_mib cap. Refcounted, since a buffer may
 * outlive the file that made it and still counts against it.
 */
struct hix_staging_quota;

/* At open: a new, empty account (NULL when out of memory). */
struct hix_staging_quota *hix_staging_quota_new(void);
/* At release: drops the file's reference; the live buffers keep theirs. */
void hix_staging_quota_put(struct hix_staging_quota *quota);

/*
 * HIX_IOC_STAGING: allocates a buffer charged to @quota, installs its file
 * and copies the answer to @uarg. 0, or a negative errno with no descriptor
 * installed and nothing left allocated.
 */
long hix_staging_ioctl(struct hix_staging_quota *quota, void __user *uarg);

#endif /* HIX_STAGING_H */
