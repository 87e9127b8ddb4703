/*
 * OpenHIX: the platform's side of device locks, between hix_cpu.c (EGLOCK)
 * and hix_pci.c (the PCI side). Not for QEMU's own files.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_HIX_HIX_LOCK_H
#define HW_HIX_HIX_LOCK_H

#include "hw/pci/pci.h"
#include "hix_core.h"

PCIDevice *hix_pci_find(hix_bdf_t bdf);
/* Fills d for the device at bdf; false if there is none. */
bool hix_pci_describe(hix_bdf_t bdf, struct hix_device_desc *d);
/* After EGLOCK or a release: tell the device, reset sizing state. */
void hix_pci_lock_changed(hix_bdf_t bdf, bool locked);
/* Does pa decode, right now, to the locked BAR the EPCM-like lock table
 * says is there (and not to another device moved over it)? */
bool hix_pci_decodes_locked_bar(hix_paddr_t pa);
/* The core's scrub_device callback. */
void hix_pci_scrub(hix_bdf_t bdf);

/* hix_platform.c: does pa decode, right now, to the RAM its EPC page was
 * added from (docs/specs/hix-isa.md §16.1)? */
bool hix_platform_epc_decodes_ram(uint64_t pa);

/* hix_cpu.c, from the platform (§16.3, §16.6): once the machine exists and
 * at every reset. enforce: hide SVM from every vCPU. Every vCPU leaves
 * enclave mode (its saved state is discarded). */
void hix_cpu_platform_reset(bool enforce);

#endif /* HW_HIX_HIX_LOCK_H */
