/*
 * OpenHIX: the HIX platform inside QEMU (docs/specs/hix-isa.md).
 *
 * The hooks in QEMU's own files call only the functions declared here; each
 * is a no-op (or the stock behaviour) when no hix-platform object exists.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_HIX_HIX_H
#define HW_HIX_HIX_H

#include "exec/memattrs.h"
#include "exec/hwaddr.h"
#include "qom/object.h"
#include "qemu/thread.h"
#include "exec/memory.h"

#include "hix_core.h" /* hw/hix/core, on the include path of our files */

#define TYPE_HIX_PLATFORM "hix-platform"

/* vCPUs the platform tracks enclave mode for; a machine with more is
 * refused when the platform is created. */
#define HIX_MAX_VCPUS 256
OBJECT_DECLARE_SIMPLE_TYPE(HixPlatform, HIX_PLATFORM)

/* Guest-physical page every abort-page access is routed to (spec §5):
 * reads all-ones, writes dropped. Below 2^40, the TCG CPU's physical
 * address width, and far above anything q35 maps. */
#define HIX_ABORT_PAGE_PA 0xFFFFFFF000ull

/*
 * Lock order: HixPlatform.lock is a leaf lock. ENCLS leaves run as
 * exclusive work (every vCPU stopped) and so need no lock; EENTER, EEXIT
 * and the first half of an abort change TCS and activity state concurrently
 * and hold the lock for that.
 */
struct HixPlatform {
    Object parent_obj;

    char *key_path;
    char *audit_path;
    bool enforce;
    uint32_t epc_pages;

    struct hix_core core;
    QemuMutex lock;
    FILE *audit;
    MemoryRegion abort_page;
    bool abort_page_mapped;

    /* The machine's RAM at its fixed layout, without any chipset decode
     * (spec §16.1): what EPC pages are checked against and scrubbed
     * through. Built once the machine exists (ram_ready). */
    MemoryRegion ram_root;
    MemoryRegion ram_low;
    MemoryRegion ram_high;
    AddressSpace ram_as;
    bool ram_ready;
    Notifier machine_done;
};

/* The platform, or NULL when HIX is not enabled. */
extern HixPlatform *hix_platform;

#endif /* HW_HIX_HIX_H */
