/*
 * OpenHIX: device lockdown on the PCI side (docs/specs/hix-isa.md §12-§15):
 * finding and describing a device for EGLOCK, the configuration-space lock
 * (policy table in core/config_lock.c), BAR sizing answers and the DMA
 * filter every bus master's DMA goes through.
 *
 * Called from exclusive ENCLS work, from config accesses (under the BQL) and
 * from DMA translation; lock state only changes in exclusive work.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "exec/address-spaces.h"
#include "exec/memory.h"
#include "hw/pci/pci.h"
#include "hw/pci/pci_host.h"
#include "hw/pci/pci_bridge.h"
#include "hw/hix/hix.h"
#include "hw/hix/hix-pci.h"
#include "hw/hix/hix-lock.h"
#include "hw/hix/hix-lockable.h"

#define TYPE_HIX_DMA_IOMMU "hix-dma-iommu"

/* BAR sizing probes the shim is answering, per lock slot and BAR. */
static bool hix_sizing[HIX_MAX_LOCKS][HIX_NUM_BARS];

static PCIBus *hix_root_bus(void)
{
    Object *host = object_resolve_path_type("", TYPE_PCI_HOST_BRIDGE, NULL);

    return host ? PCI_HOST_BRIDGE(host)->bus : NULL;
}

PCIDevice *hix_pci_find(hix_bdf_t bdf)
{
    PCIBus *root = hix_root_bus();
    const uint32_t v = hix_bdf_value(bdf);

    return root ? pci_find_device(root, (int)(v >> 8), v & 0xff) : NULL;
}

/* dev's own BDF, as the core's lock table names devices. */
static hix_bdf_t hix_pci_bdf(PCIDevice *dev)
{
    return hix_bdf(pci_get_bdf(dev));
}

/* dev's lockable interface, or NULL for a device that cannot be locked. */
static HixLockableClass *hix_lockable(PCIDevice *dev)
{
    return dev && object_dynamic_cast(OBJECT(dev), TYPE_HIX_LOCKABLE)
               ? HIX_LOCKABLE_GET_CLASS(OBJECT(dev))
               : NULL;
}

bool hix_pci_describe(hix_bdf_t bdf, struct hix_device_desc *d)
{
    PCIDevice *dev = hix_pci_find(bdf);

    memset(d, 0, sizeof(*d));
    if (!dev) {
        return false;
    }
    d->bdf = bdf;
    d->vendor_id = pci_get_word(dev->config + PCI_VENDOR_ID);
    d->device_id = pci_get_word(dev->config + PCI_DEVICE_ID);
    d->lockable = hix_lockable(dev) != NULL;
    d->decoding = pci_get_word(dev->config + PCI_COMMAND) & PCI_COMMAND_MEMORY;
    for (int i = 0; i < PCI_NUM_REGIONS - 1 && i < (int)HIX_NUM_BARS; i++) {
        const PCIIORegion *r = &dev->io_regions[i];
        if (r->size && r->addr != PCI_BAR_UNMAPPED &&
            !(r->type & PCI_BASE_ADDRESS_SPACE_IO)) {
            d->bar[i].base = hix_pa(r->addr);
            d->bar[i].size = r->size;
        }
    }
    return true;
}

void hix_pci_lock_changed(hix_bdf_t bdf, bool locked)
{
    PCIDevice *dev = hix_pci_find(bdf);
    HixLockableClass *lc = hix_lockable(dev);
    const struct hix_lock *l = hix_lock_by_bdf(&hix_platform->core, bdf);

    if (l) {
        memset(hix_sizing[hix_lock_slot(&hix_platform->core, l)], 0,
               sizeof(hix_sizing[0]));
    }
    if (lc) {
        lc->set_locked(OBJECT(dev), locked,
                       l ? hix_pa_addr(hix_secs_pa(
                               hix_lock_owner_secs(&hix_platform->core, l)))
                         : 0);
    }
}

void hix_pci_scrub(hix_bdf_t bdf)
{
    PCIDevice *dev = hix_pci_find(bdf);
    HixLockableClass *lc = hix_lockable(dev);

    /* Called just before the core releases the lock: scrub, then unlock. */
    if (lc) {
        lc->scrub(OBJECT(dev));
    }
    hix_pci_lock_changed(bdf, false);
}

static void hix_pci_audit(enum hix_deny_kind kind, enum hix_verdict verdict,
                          uint64_t what, uint64_t where)
{
    struct hix_denial d = {
        .vcpu = -1,
        .cpl = -1,
        .linear = what,
        .physical = where,
        .kind = kind,
        .verdict = verdict,
    };
    hix_audit_record(&hix_platform->core, &d);
}

/* The lock slot of dev if it is locked, else -1. */
static int hix_locked_slot(PCIDevice *dev)
{
    const struct hix_lock *l =
        hix_lock_by_bdf(&hix_platform->core, hix_pci_bdf(dev));

    return l ? (int)hix_lock_slot(&hix_platform->core, l) : -1;
}

/* Is bridge on the path from the root to a locked device? */
static bool hix_upstream_of_lock(PCIDevice *bridge)
{
    for (unsigned i = 0; i < HIX_MAX_LOCKS; i++) {
        const struct hix_lock *l = hix_lock_at(&hix_platform->core, i);
        PCIDevice *dev;
        if (!l) {
            continue;
        }
        dev = hix_pci_find(l->dev.bdf);
        while (dev && !pci_bus_is_root(pci_get_bus(dev))) {
            dev = pci_get_bus(dev)->parent_dev;
            if (dev == bridge) {
                return true;
            }
        }
    }
    return false;
}

/* Would this write leave one of dev's memory BARs overlapping a locked BAR?
 * (Moving another device's BAR over a locked one would put that device
 * where the owner's GLRANGE points.) */
static bool hix_bar_write_overlaps_lock(PCIDevice *dev, uint32_t addr,
                                        uint32_t val, uint32_t len)
{
    const bool bridge = (pci_get_byte(dev->config + PCI_HEADER_TYPE) & 0x7f) ==
                        PCI_HEADER_TYPE_BRIDGE;
    const uint32_t bar_end = bridge ? 0x18 : 0x28;
    uint32_t dword_off = addr & ~3u, merged;
    int i, lo;
    uint64_t base, size;

    if (addr < 0x10 || addr >= bar_end || addr + len > dword_off + 4) {
        return false;
    }
    i = (int)((dword_off - 0x10) / 4);
    merged = pci_get_long(dev->config + dword_off);
    for (uint32_t b = 0; b < len; b++) {
        const uint32_t shift = 8 * (addr - dword_off + b);
        merged =
            (merged & ~(0xffu << shift)) | (((val >> (8 * b)) & 0xff) << shift);
    }
    lo = i;
    if (!dev->io_regions[i].size && i > 0 &&
        (dev->io_regions[i - 1].type & PCI_BASE_ADDRESS_MEM_TYPE_64)) {
        lo = i - 1; /* the upper half of a 64-bit BAR */
    }
    size = dev->io_regions[lo].size;
    if (!size || (dev->io_regions[lo].type & PCI_BASE_ADDRESS_SPACE_IO)) {
        return false;
    }
    if (lo == i) {
        base = merged & ~(uint32_t)(size - 1) & PCI_BASE_ADDRESS_MEM_MASK;
        if (dev->io_regions[i].type & PCI_BASE_ADDRESS_MEM_TYPE_64) {
            base |= (uint64_t)pci_get_long(dev->config + dword_off + 4) << 32;
        }
    } else {
        base = (pci_get_long(dev->config + dword_off - 4) &
                PCI_BASE_ADDRESS_MEM_MASK) |
               ((uint64_t)merged << 32);
        base &= ~(size - 1);
    }
    for (unsigned k = 0; k < HIX_MAX_LOCKS; k++) {
        const struct hix_lock *l = hix_lock_at(&hix_platform->core, k);
        if (!l || hix_bdf_eq(l->dev.bdf, hix_pci_bdf(dev))) {
            continue;
        }
        for (unsigned b = 0; b < HIX_NUM_BARS; b++) {
            const uint64_t locked_base = hix_pa_addr(l->dev.bar[b].base);
            if (l->dev.bar[b].size && base < locked_base + l->dev.bar[b].size &&
                locked_base < base + size) {
                return true;
            }
        }
    }
    return false;
}

bool hix_pci_decodes_locked_bar(hix_paddr_t pa)
{
    unsigned bar;
    const struct hix_lock *l = hix_lock_by_pa(&hix_platform->core, pa, &bar);
    PCIDevice *dev = l ? hix_pci_find(l->dev.bdf) : NULL;
    MemoryRegionSection s;
    bool ok;

    if (!dev) {
        return false;
    }
    s = memory_region_find(get_system_memory(), hix_pa_addr(pa), 1);
    ok = s.mr && s.mr == dev->io_regions[bar].memory;
    if (s.mr) {
        memory_region_unref(s.mr);
    }
    return ok;
}

/* QEMU's type names of the q35 chipset functions whose registers decode
 * guest-physical memory (spec §16.2): TYPE_MCH_PCI_DEVICE and
 * TYPE_ICH9_LPC_DEVICE. */
#define HIX_TYPE_Q35_MCH "mch"
#define HIX_TYPE_ICH9_LPC "ICH9-LPC"

/* Writes the bytes of a filtered write that still need writing. */
static void hix_pci_write_bytes(PCIDevice *dev, uint32_t addr, uint32_t len,
                                const struct hix_cfg_filtered *f)
{
    for (uint32_t i = 0; i < len; i++) {
        if (f->byte_mask & (1u << i)) {
            dev->config_write(dev, addr + i, (f->value >> (8 * i)) & 0xff, 1);
        }
    }
}

static uint32_t hix_pci_config_old(PCIDevice *dev, uint32_t addr, uint32_t len)
{
    uint32_t old = 0;

    memcpy(&old, dev->config + addr, len);
    return le32_to_cpu(old);
}

/* Where offset addr of dev's configuration space lies (§14): the header,
 * the capability with the largest start at or below it (standard list below
 * 0x100, extended list above), or nothing. */
static struct hix_cfg_place hix_pci_place(PCIDevice *dev, uint32_t addr)
{
    struct hix_cfg_place p = { HIX_CFG_UNCLAIMED, 0, addr };
    uint32_t best = 0, c;

    if (addr < PCI_CONFIG_HEADER_SIZE) {
        p.area = HIX_CFG_HEADER;
        return p;
    }
    if (addr < PCI_CONFIG_SPACE_SIZE) {
        if (!(pci_get_word(dev->config + PCI_STATUS) & PCI_STATUS_CAP_LIST)) {
            return p;
        }
        /* At most 48 capabilities fit; a longer walk is a loop. */
        c = dev->config[PCI_CAPABILITY_LIST] & ~3u;
        for (int n = 0; c >= PCI_CONFIG_HEADER_SIZE && n < 48; n++) {
            if (c <= addr && c > best) {
                best = c;
            }
            c = dev->config[c + PCI_CAP_LIST_NEXT] & ~3u;
        }
        if (best) {
            p.area = HIX_CFG_CAP;
            p.cap_id = dev->config[best + PCI_CAP_LIST_ID];
            p.offset = addr - best;
        }
        return p;
    }
    if (!pci_is_express(dev) || addr >= PCIE_CONFIG_SPACE_SIZE) {
        return p;
    }
    c = PCI_CONFIG_SPACE_SIZE;
    for (int n = 0; c >= PCI_CONFIG_SPACE_SIZE && c < PCIE_CONFIG_SPACE_SIZE &&
                    n < (PCIE_CONFIG_SPACE_SIZE - PCI_CONFIG_SPACE_SIZE) / 4;
         n++) {
        const uint32_t header = pci_get_long(dev->config + c);
        if (!header) {
            break;
        }
        if (c <= addr && c > best) {
            best = c;
            p.cap_id = PCI_EXT_CAP_ID(header);
        }
        c = PCI_EXT_CAP_NEXT(header);
    }
    if (best) {
        p.area = HIX_CFG_EXT_CAP;
        p.offset = addr - best;
    }
    return p;
}

/* The chipset decode lock (§16.2): true when the write was taken over. */
static bool hix_pci_chipset_write(PCIDevice *dev, uint32_t addr, uint32_t val,
                                  uint32_t len)
{
    enum hix_chipset chip;
    struct hix_cfg_filtered out;

    if (object_dynamic_cast(OBJECT(dev), HIX_TYPE_Q35_MCH)) {
        chip = HIX_CHIPSET_MCH;
    } else if (object_dynamic_cast(OBJECT(dev), HIX_TYPE_ICH9_LPC)) {
        chip = HIX_CHIPSET_LPC;
    } else {
        return false;
    }
    if (!hix_chipset_locked(&hix_platform->core)) {
        return false;
    }
    const struct hix_cfg_write w = {
        .len = len,
        .old = hix_pci_config_old(dev, addr, len),
        .val = val,
    };
    if (hix_chipset_filter(chip, addr, &w, &out)) {
        hix_pci_audit(HIX_DENY_CONFIG_WRITE_CHIPSET, HIX_ABORT_PAGE, addr,
                      pci_get_bdf(dev));
    }
    hix_pci_write_bytes(dev, addr, len, &out);
    return true;
}

bool hix_pci_config_write(PCIDevice *dev, uint32_t addr, uint32_t val,
                          uint32_t len)
{
    int slot;
    bool bridge = false, denied;
    struct hix_cfg_filtered out;
    unsigned bar;

    if (!hix_platform || !hix_platform->core.enforce) {
        return false;
    }
    if (hix_pci_chipset_write(dev, addr, val, len)) {
        return true;
    }
    if (hix_bar_write_overlaps_lock(dev, addr, val, len)) {
        hix_pci_audit(HIX_DENY_CONFIG_WRITE, HIX_ABORT_PAGE, addr,
                      pci_get_bdf(dev));
        return true;
    }
    slot = hix_locked_slot(dev);
    if (slot < 0) {
        if ((pci_get_byte(dev->config + PCI_HEADER_TYPE) & 0x7f) !=
                PCI_HEADER_TYPE_BRIDGE ||
            !hix_upstream_of_lock(dev)) {
            return false;
        }
        bridge = true;
    }
    if (!bridge && hix_cfg_is_bar(addr, &bar)) {
        /* All-ones is a sizing probe: answer the next read (§14). */
        hix_sizing[slot][bar] = len == 4 && val == 0xFFFFFFFFu;
    }
    const struct hix_cfg_write w = {
        .len = len,
        .old = hix_pci_config_old(dev, addr, len),
        .val = val,
    };
    denied = hix_cfg_filter(bridge, hix_pci_place(dev, addr), &w, &out);
    if (denied) {
        hix_pci_audit(bridge ? HIX_DENY_CONFIG_WRITE_BRIDGE
                             : HIX_DENY_CONFIG_WRITE,
                      HIX_ABORT_PAGE, addr, pci_get_bdf(dev));
    }
    hix_pci_write_bytes(dev, addr, len, &out);
    return true;
}

bool hix_pci_config_read(PCIDevice *dev, uint32_t addr, uint32_t len,
                         uint32_t *val)
{
    int slot;
    unsigned bar;
    const PCIIORegion *r;

    if (!hix_platform || len != 4 || !hix_cfg_is_bar(addr, &bar) ||
        (addr & 3) != 0) {
        return false;
    }
    slot = hix_locked_slot(dev);
    if (slot < 0 || !hix_sizing[slot][bar]) {
        return false;
    }
    r = &dev->io_regions[bar];
    if (r->size) {
        *val = (uint32_t) ~(r->size - 1) | r->type;
    } else if (bar > 0 &&
               (dev->io_regions[bar - 1].type & PCI_BASE_ADDRESS_MEM_TYPE_64)) {
        *val = (uint32_t)(~(dev->io_regions[bar - 1].size - 1) >> 32);
    } else {
        *val = 0;
    }
    return true;
}

bool hix_pci_lock_enforced(void)
{
    return hix_platform && hix_platform->core.enforce;
}

bool hix_pci_device_access_ok(PCIDevice *dev, MemTxAttrs attrs, hwaddr offset,
                              bool write)
{
    const struct hix_lock *l;

    if (!hix_platform || !hix_platform->core.enforce) {
        return true;
    }
    l = hix_lock_by_bdf(&hix_platform->core, hix_pci_bdf(dev));
    if (!l) {
        return true;
    }
    if (attrs.target_tlb_bit2 &&
        attrs.requester_id == HIX_REQUESTER_ENCLAVE(l->owner)) {
        return true;
    }
    hix_pci_audit(HIX_DENY_BAR_UNTAGGED, HIX_ABORT_PAGE, offset,
                  pci_get_bdf(dev));
    return false;
}

/* ---- The device's own DMA engine ---------------------------------------- */

/* The EPC deny map as last computed (hix-lockable.h). */
static struct hix_phys_range *hix_deny;
static size_t hix_deny_count;

size_t hix_pci_dma_deny_map(const struct hix_phys_range **ranges)
{
    *ranges = hix_deny;
    return hix_deny_count;
}

static int hix_push_deny_map(Object *obj, void *opaque)
{
    if (object_dynamic_cast(obj, TYPE_HIX_LOCKABLE)) {
        HIX_LOCKABLE_GET_CLASS(obj)->set_dma_deny(obj, hix_deny,
                                                  hix_deny_count);
    }
    return 0;
}

void hix_pci_epc_changed(void)
{
    const size_t count = hix_epc_ranges(&hix_platform->core, NULL, 0);

    hix_deny = g_renew(struct hix_phys_range, hix_deny, count + 1);
    hix_deny_count = hix_epc_ranges(&hix_platform->core, hix_deny, count);
    if (hix_deny_count > count) {
        /* Allocation failed inside the core: describe the whole address
         * space, so every device refuses its DMA (fail closed). */
        hix_deny[0] = (struct hix_phys_range){ hix_pa(0), UINT64_MAX };
        hix_deny_count = 1;
    }
    object_child_foreach_recursive(object_get_root(), hix_push_deny_map, NULL);
}

/* ---- DMA filter -------------------------------------------------------- */

typedef struct HixDmaFilter {
    IOMMUMemoryRegion iommu;
    AddressSpace as;
    uint32_t requester; /* BDF, or HIX_DMA_REQUESTER_PLATFORM */
} HixDmaFilter;

static IOMMUTLBEntry hix_dma_translate(IOMMUMemoryRegion *iommu, hwaddr addr,
                                       IOMMUAccessFlags flag, int iommu_idx)
{
    HixDmaFilter *f = container_of(iommu, HixDmaFilter, iommu);
    enum hix_deny_kind kind;
    IOMMUTLBEntry e = {
        .target_as = &address_space_memory,
        .iova = addr & ~(hwaddr)(HIX_PAGE_SIZE - 1),
        .translated_addr = addr & ~(hwaddr)(HIX_PAGE_SIZE - 1),
        .addr_mask = HIX_PAGE_SIZE - 1,
        .perm = IOMMU_RW,
    };

    if (hix_platform &&
        !hix_dma_allowed(&hix_platform->core, hix_pa(addr), &kind)) {
        e.perm = IOMMU_NONE;
        hix_pci_audit(kind, HIX_ABORT_PAGE, f->requester, addr);
    }
    return e;
}

static void hix_dma_iommu_class_init(ObjectClass *klass, void *data)
{
    IOMMUMemoryRegionClass *imrc = IOMMU_MEMORY_REGION_CLASS(klass);

    imrc->translate = hix_dma_translate;
}

static const TypeInfo hix_lockable_info = {
    .name = TYPE_HIX_LOCKABLE,
    .parent = TYPE_INTERFACE,
    .class_size = sizeof(HixLockableClass),
};

static const TypeInfo hix_dma_iommu_info = {
    .parent = TYPE_IOMMU_MEMORY_REGION,
    .name = TYPE_HIX_DMA_IOMMU,
    .class_init = hix_dma_iommu_class_init,
};

static void hix_pci_register_types(void)
{
    type_register_static(&hix_dma_iommu_info);
    type_register_static(&hix_lockable_info);
}

type_init(hix_pci_register_types)

    AddressSpace *hix_dma_filter_as(Object *owner, const char *name,
                                    uint32_t requester, AddressSpace *as)
{
    HixDmaFilter *f;
    g_autofree char *mr_name = NULL;

    /* Only in front of plain system memory (no guest IOMMU configured). */
    if (!hix_platform || as != &address_space_memory) {
        return as;
    }
    f = g_new0(HixDmaFilter, 1);
    f->requester = requester;
    mr_name = g_strdup_printf("hix-dma-%s", name);
    memory_region_init_iommu(&f->iommu, sizeof(f->iommu), TYPE_HIX_DMA_IOMMU,
                             owner, mr_name, UINT64_MAX);
    address_space_init(&f->as, MEMORY_REGION(&f->iommu), mr_name);
    return &f->as;
}

AddressSpace *hix_pci_dma_as(PCIDevice *dev, AddressSpace *as)
{
    return hix_dma_filter_as(OBJECT(dev), dev->name, pci_get_bdf(dev), as);
}
