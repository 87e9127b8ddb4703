/*
 * OpenHIX: the hooks on QEMU's PCI paths (docs/specs/hix-isa.md §14-§15);
 * lockable devices implement hix-lockable.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_HIX_HIX_PCI_H
#define HW_HIX_HIX_PCI_H

#include "exec/memattrs.h"
#include "hw/pci/pci.h"
struct hix_phys_range; /* hix_core.h, on the include path of our files only */

/* pci_host_config_write_common: true when the shim took the write over
 * (dropped it, or wrote only the bytes the lock allows). */
bool hix_pci_config_write(PCIDevice *dev, uint32_t addr, uint32_t val,
                          uint32_t len);
/* pci_host_config_read_common: true (with *val) while the shim answers a
 * BAR sizing probe of a locked device. */
bool hix_pci_config_read(PCIDevice *dev, uint32_t addr, uint32_t len,
                         uint32_t *val);
/* pci_init_bus_master: the bus master's DMA address space, filtered. */
AddressSpace *hix_pci_dma_as(PCIDevice *dev, AddressSpace *as);

/* Any other DMA engine of the platform (fw_cfg): its address space,
 * filtered the same way (spec §15). requester: logged as the source. */
#define HIX_DMA_REQUESTER_PLATFORM 0x10000u
AddressSpace *hix_dma_filter_as(Object *owner, const char *name,
                                uint32_t requester, AddressSpace *as);

/* For the hix-gpu frontend: may an access with these attributes reach the
 * device's registers? Counts and logs a refusal. */
bool hix_pci_device_access_ok(PCIDevice *dev, MemTxAttrs attrs, hwaddr offset,
                              bool write);

/* EPC membership changed: push the deny map to every device server. */
void hix_pci_epc_changed(void);

/* Does the platform enforce the lockdown (a locked device may then not be
 * hot-unplugged, spec §16.5)? */
bool hix_pci_lock_enforced(void);

/* The EPC deny map as last computed, for a lockable device that connects
 * its DMA engine later (a device server that replaced a dead one). */
size_t hix_pci_dma_deny_map(const struct hix_phys_range **ranges);

#endif /* HW_HIX_HIX_PCI_H */
