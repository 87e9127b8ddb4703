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
#include "epcm.h" /* core/, for walking the EPCM */

#define TYPE_HIX_DMA_IOMMU "hix-dma-iommu"

/* BAR sizing probes the shim is answering, per lock slot and BAR. */
static bool hix_sizing[HIX_MAX_LOCKS][HIX_NUM_BARS];

static PCIBus *hix_root_bus(void)
{
    Object *host = object_resolve_path_type("", TYPE_PCI_HOST_BRIDGE, NULL);

    return host ? PCI_HOST_BRIDGE(host)->bus : NULL;
}

PCIDevice *hix_pci_find(uint32_t bdf)
{
    PCIBus *root = hix_root_bus();

    return root ? pci_find_device(root, (int)(bdf >> 8), bdf & 0xff) : NULL;
}

bool hix_pci_describe(uint32_t bdf, struct hix_device_desc *d)
{
    PCIDevice *dev = hix_pci_find(bdf);

    memset(d, 0, sizeof(*d));
    if (!dev) {
        return false;
    }
    d->bdf = bdf;
    d->vendor_id = pci_get_word(dev->config + PCI_VENDOR_ID);
    d->device_id = pci_get_word(dev->config + PCI_DEVICE_ID);
    d->lockable = hix_gpu_is(dev);
    d->decoding = pci_get_word(dev->config + PCI_COMMAND) & PCI_COMMAND_MEMORY;
    for (int i = 0; i < PCI_NUM_REGIONS - 1 && i < (int)HIX_NUM_BARS; i++) {
        const PCIIORegion *r = &dev->io_regions[i];
        if (r->size && r->addr != PCI_BAR_UNMAPPED &&
            !(r->type & PCI_BASE_ADDRESS_SPACE_IO)) {
            d->bar[i].base = r->addr;
            d->bar[i].size = r->size;
        }
    }
    return true;
}

void hix_pci_lock_changed(uint32_t bdf, bool locked)
{
    PCIDevice *dev = hix_pci_find(bdf);
    const struct hix_lock *l = hix_lock_by_bdf(&hix_platform->core, bdf);

    if (l) {
        memset(hix_sizing[l - hix_platform->core.locks], 0,
               sizeof(hix_sizing[0]));
    }
    if (dev && hix_gpu_is(dev)) {
        hix_gpu_set_locked(
            dev, locked, l ? hix_platform->core.enclaves[l->owner].secs_pa : 0);
    }
}

void hix_pci_scrub(uint32_t bdf)
{
    PCIDevice *dev = hix_pci_find(bdf);

    /* Called just before the core releases the lock: scrub, then unlock. */
    if (dev && hix_gpu_is(dev)) {
        hix_gpu_scrub(dev);
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
        hix_lock_by_bdf(&hix_platform->core, pci_get_bdf(dev));

    return l ? (int)(l - hix_platform->core.locks) : -1;
}

/* Is bridge on the path from the root to a locked device? */
static bool hix_upstream_of_lock(PCIDevice *bridge)
{
    for (unsigned i = 0; i < HIX_MAX_LOCKS; i++) {
        const struct hix_lock *l = &hix_platform->core.locks[i];
        PCIDevice *dev;
        if (!l->active) {
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
        const struct hix_lock *l = &hix_platform->core.locks[k];
        if (!l->active || l->dev.bdf == pci_get_bdf(dev)) {
            continue;
        }
        for (unsigned b = 0; b < HIX_NUM_BARS; b++) {
            if (l->dev.bar[b].size &&
                base < l->dev.bar[b].base + l->dev.bar[b].size &&
                l->dev.bar[b].base < base + size) {
                return true;
            }
        }
    }
    return false;
}

bool hix_pci_decodes_locked_bar(uint64_t pa)
{
    unsigned bar;
    const struct hix_lock *l = hix_lock_by_pa(&hix_platform->core, pa, &bar);
    PCIDevice *dev = l ? hix_pci_find(l->dev.bdf) : NULL;
    MemoryRegionSection s;
    bool ok;

    if (!dev) {
        return false;
    }
    s = memory_region_find(get_system_memory(), pa, 1);
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
                                uint32_t out, uint32_t bytes)
{
    for (uint32_t i = 0; i < len; i++) {
        if (bytes & (1u << i)) {
            dev->config_write(dev, addr + i, (out >> (8 * i)) & 0xff, 1);
        }
    }
}

static uint32_t hix_pci_config_old(PCIDevice *dev, uint32_t addr, uint32_t len)
{
    uint32_t old = 0;

    memcpy(&old, dev->config + addr, len);
    return le32_to_cpu(old);
}

/* The chipset decode lock (§16.2): true when the write was taken over. */
static bool hix_pci_chipset_write(PCIDevice *dev, uint32_t addr, uint32_t val,
                                  uint32_t len)
{
    enum hix_chipset chip;
    uint32_t out, bytes;

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
    if (hix_chipset_filter(chip, addr, len, hix_pci_config_old(dev, addr, len),
                           val, &out, &bytes)) {
        hix_pci_audit(HIX_DENY_CONFIG_WRITE_CHIPSET, HIX_ABORT_PAGE, addr,
                      pci_get_bdf(dev));
    }
    hix_pci_write_bytes(dev, addr, len, out, bytes);
    return true;
}

bool hix_pci_config_write(PCIDevice *dev, uint32_t addr, uint32_t val,
                          uint32_t len)
{
    int slot;
    bool bridge = false, denied;
    uint32_t old, out, bytes;
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
    old = hix_pci_config_old(dev, addr, len);
    if (pci_is_express(dev) && dev->exp.exp_cap && addr >= dev->exp.exp_cap) {
        /* Device, Link and Slot Control (§16.5); past the rules' reach
         * (other capabilities, extended space) the filter passes all. */
        denied = hix_cfg_filter_pcie(bridge, addr - dev->exp.exp_cap, len, old,
                                     val, &out, &bytes);
    } else {
        denied = hix_cfg_filter(bridge, addr, len, old, val, &out, &bytes);
    }
    if (denied) {
        hix_pci_audit(bridge ? HIX_DENY_CONFIG_WRITE_BRIDGE
                             : HIX_DENY_CONFIG_WRITE,
                      HIX_ABORT_PAGE, addr, pci_get_bdf(dev));
    }
    hix_pci_write_bytes(dev, addr, len, out, bytes);
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
    l = hix_lock_by_bdf(&hix_platform->core, pci_get_bdf(dev));
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

#define HIX_DENY_MAX 250 /* HIX_VGPU_MAX_DENY_RANGES */

static int hix_cmp_u64(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

void hix_pci_epc_changed(void)
{
    const struct hix_epcm *epcm = &hix_platform->core.epcm;
    g_autofree uint64_t *pfns = g_new(uint64_t, epcm->used + 1);
    uint64_t ranges[HIX_DENY_MAX][2];
    uint32_t n = 0, count = 0;

    for (size_t i = 0; i < epcm->capacity; i++) {
        if (hix_epcm_slot_used(&epcm->slots[i])) {
            pfns[n++] = epcm->slots[i].pfn;
        }
    }
    qsort(pfns, n, sizeof(*pfns), hix_cmp_u64);
    for (uint32_t i = 0; i < n; i++) {
        if (count && ranges[count - 1][0] + ranges[count - 1][1] == pfns[i]
                                                                        << 12) {
            ranges[count - 1][1] += HIX_PAGE_SIZE;
            continue;
        }
        if (count == HIX_DENY_MAX) {
            /* Too scattered to describe: the device gets no DMA at all
             * (fail closed) until the EPC shrinks. */
            warn_report_once("hix: EPC too fragmented for the device's deny "
                             "map; the device's DMA is refused entirely");
            ranges[0][0] = 0;
            ranges[0][1] = UINT64_MAX;
            count = 1;
            break;
        }
        ranges[count][0] = pfns[i] << 12;
        ranges[count][1] = HIX_PAGE_SIZE;
        count++;
    }
    hix_gpu_dma_deny_all((const uint64_t(*)[2])ranges, count);
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

    if (hix_platform && !hix_dma_allowed(&hix_platform->core, addr, &kind)) {
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

static const TypeInfo hix_dma_iommu_info = {
    .parent = TYPE_IOMMU_MEMORY_REGION,
    .name = TYPE_HIX_DMA_IOMMU,
    .class_init = hix_dma_iommu_class_init,
};

static void hix_pci_register_types(void)
{
    type_register_static(&hix_dma_iommu_info);
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
