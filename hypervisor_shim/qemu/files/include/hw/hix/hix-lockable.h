/*
 * OpenHIX: the interface a PCI device implements to be lockable by a GPU
 * enclave (docs/specs/hix-isa.md §12-§15). The platform's PCI side
 * (hix_pci.c) finds it with object_dynamic_cast and reaches the device only
 * through it; the device depends on the platform, never the reverse.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_HIX_HIX_LOCKABLE_H
#define HW_HIX_HIX_LOCKABLE_H

#include "qom/object.h"
struct hix_phys_range; /* hix_core.h, on the include path of our files only */

#define TYPE_HIX_LOCKABLE "hix-lockable"

typedef struct HixLockableClass HixLockableClass;
DECLARE_CLASS_CHECKERS(HixLockableClass, HIX_LOCKABLE, TYPE_HIX_LOCKABLE)

struct HixLockableClass {
    InterfaceClass parent_class;

    /* The lock was taken (owner: an opaque identity of the locking enclave,
     * its SECS address) or released (owner 0). Called in exclusive work. */
    void (*set_locked)(Object *dev, bool locked, uint64_t owner);
    /* Just before the platform releases the lock: wipe what the owner left
     * in the device. */
    void (*scrub)(Object *dev);
    /* The EPC ranges the device's own DMA must not touch, every time they
     * change (count 0: none). A device that cannot hold `count` ranges must
     * refuse all of its DMA (fail closed). */
    void (*set_dma_deny)(Object *dev, const struct hix_phys_range *ranges,
                         size_t count);
};

#endif /* HW_HIX_HIX_LOCKABLE_H */
