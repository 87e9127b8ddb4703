/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The enclave of one open file of /dev/hix (docs/specs/hix-isa.md §11): its
 * SECS, the EPC pages added to it, the devices it locked and the user
 * mappings of its ELRANGE.
 */
#ifndef HIX_ENCLAVE_H
#define HIX_ENCLAVE_H

#include <linux/list.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/types.h>
#include <linux/xarray.h>

#include "hix/abi/hix_ioctl.h"

struct hix_encl {
	struct mutex lock; /* see hix_enclave.c for the lock order */
	struct page *secs; /* NULL while this file has no enclave */
	u64 base; /* ELRANGE */
	u64 size;
	struct xarray pages; /* ELRANGE page index -> EPC page */
	unsigned long nr_pages; /* entries of @pages */
	bool initialized; /* EINIT succeeded */
	struct list_head glocks; /* struct hix_glock, EGLOCK succeeded */
	unsigned int nr_vmas; /* live mappings of ELRANGE */
};

void hix_encl_init(struct hix_encl *encl);
long hix_encl_create(struct hix_encl *encl, const struct hix_ioc_create *req);
long hix_encl_add_pages(struct hix_encl *encl, struct hix_ioc_add_pages *req);
long hix_encl_einit(struct hix_encl *encl, struct hix_ioc_init *req);
/* @eglock: whether the CPU has EGLOCK (-EOPNOTSUPP otherwise). */
long hix_encl_glock(struct hix_encl *encl, struct hix_ioc_glock *req,
		    bool eglock);
long hix_encl_destroy(struct hix_encl *encl);
/* At file release: destroys the enclave, if any; never fails. */
void hix_encl_release(struct hix_encl *encl);
int hix_encl_mmap(struct hix_encl *encl, struct vm_area_struct *vma);

#endif /* HIX_ENCLAVE_H */
