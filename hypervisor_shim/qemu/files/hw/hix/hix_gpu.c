/*
 * hix-gpu: the OpenHIX virtual GPU, QEMU frontend (docs/specs/hix-gpu.md).
 *
 * A PCI Express endpoint whose BAR0 is the register file. With server=PATH
 * every register access that passes the lockdown check is forwarded to the
 * device server (docs/specs/hix-gpu.md §10), guest RAM is shared with it as a
 * memfd and the EPC deny map and lock state are pushed to it. Without a
 * server the frontend serves the five revision-1.0 registers itself (§10.7).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/units.h"
#include "qemu/error-report.h"
#include "qemu/module.h"
#include "qapi/error.h"
#include "hw/pci/pci.h"
#include "hw/pci/pcie.h"
#include "qom/object.h"
#include "hw/boards.h"
#include "hw/qdev-properties.h"
#include "exec/address-spaces.h"
#include "sysemu/sysemu.h"

#include "hix/abi/hix_gpu_regs.h"
#include "hw/hix/hix-pci.h"
#include "hw/hix/hix-lockable.h"
#include "hw/hix/hix-gpu-link.h"
#include "hix_core.h" /* struct hix_phys_range */

#define TYPE_HIX_GPU "hix-gpu"
OBJECT_DECLARE_SIMPLE_TYPE(HixGpuState, HIX_GPU)

struct HixGpuState {
    PCIDevice parent_obj;
    MemoryRegion bar0;

    uint32_t scratch;
    uint32_t bad_accesses;
    bool locked; /* a GPU enclave holds the lock (docs/specs/hix-isa.md §12) */
    uint64_t owner; /* the lock owner's SECS, pushed again to a new server */

    char *server; /* the device server's socket, or NULL */
    HixGpuLink link;
    Notifier machine_done;
};

/* hix-gpus that a GPU enclave holds locked now. */
static unsigned hix_gpu_locked_count;

/* docs/specs/hix-isa.md §16.5: while any hix-gpu is locked on an enforcing
 * platform, the class is not hot-pluggable, so ACPI PCI hot-unplug (the
 * eject register) skips it and device_del refuses it. QEMU asks only the
 * class, so the class follows the lock. */
static void hix_gpu_update_hotpluggable(DeviceClass *dc)
{
    dc->hotpluggable = !(hix_gpu_locked_count > 0 && hix_pci_lock_enforced());
}

static void hix_gpu_count_refusal(HixGpuState *s, const char *what, hwaddr addr,
                                  unsigned size)
{
    if (s->bad_accesses != UINT32_MAX) {
        s->bad_accesses++;
    }
    qemu_log_mask(LOG_GUEST_ERROR,
                  "hix-gpu: refused %s at BAR0+0x%" HWADDR_PRIx " (size %u)\n",
                  what, addr, size);
}

static bool hix_gpu_access_ok(hwaddr addr, unsigned size)
{
    return size == 4 && (addr & 3) == 0;
}

/* Registers of spec revision 1.1 that live in the device server: the rows
 * of the ABI's register list whose home is the server. */
#define HIX_GPU_HOME_server(NAME) case HIX_GPU_REG_##NAME:
#define HIX_GPU_HOME_frontend(NAME)
#define HIX_GPU_SERVER_CASE(NAME, name, offset, access, reset, home)           \
    HIX_GPU_HOME_##home(NAME)

static bool hix_gpu_server_register(hwaddr addr)
{
    switch (addr) {
        HIX_GPU_REGISTERS(HIX_GPU_SERVER_CASE)
        return true;
    default:
        return false;
    }
}

static uint64_t hix_gpu_bar0_read(HixGpuState *s, hwaddr addr, unsigned size)
{
    if (!hix_gpu_access_ok(addr, size)) {
        hix_gpu_count_refusal(s, "read", addr, size);
        return HIX_GPU_REFUSED_READ;
    }
    switch ((enum hix_gpu_reg32)addr) {
    case HIX_GPU_REG_ID:
        return HIX_GPU_ID_VALUE;
    case HIX_GPU_REG_VERSION:
        return HIX_GPU_VERSION_VALUE;
    case HIX_GPU_REG_STATUS:
        return HIX_GPU_STATUS_READY | (s->locked ? HIX_GPU_STATUS_LOCKED : 0);
    case HIX_GPU_REG_SCRATCH:
        return s->scratch;
    case HIX_GPU_REG_BADACC:
        return s->bad_accesses;
    default:
        break;
    }
    if (hix_gpu_server_register(addr)) {
        /* Served by the device server, which this frontend does not reach
         * yet (docs/specs/hix-gpu.md §10): refused, not faked. */
        hix_gpu_count_refusal(s, "read of a device-server register", addr,
                              size);
        return HIX_GPU_REFUSED_READ;
    }
    /* Reserved offsets read as zero (spec §2). */
    return 0;
}

static void hix_gpu_bar0_write(HixGpuState *s, hwaddr addr, uint64_t val,
                               unsigned size)
{
    if (!hix_gpu_access_ok(addr, size)) {
        hix_gpu_count_refusal(s, "write", addr, size);
        return;
    }
    switch ((enum hix_gpu_reg32)addr) {
    case HIX_GPU_REG_SCRATCH:
        s->scratch = (uint32_t)val;
        return;
    case HIX_GPU_REG_ID:
    case HIX_GPU_REG_VERSION:
    case HIX_GPU_REG_STATUS:
    default:
        break;
    }
    hix_gpu_count_refusal(s,
                          "write to read-only, reserved or device-server "
                          "register",
                          addr, size);
}

/* A read served by the device server; once the link failed, the device
 * reports its error state (docs/specs/hix-gpu.md §10.6). */
static uint64_t hix_gpu_forward_read(HixGpuState *s, hwaddr addr, unsigned size)
{
    uint64_t v;

    if (hix_gpu_link_read(&s->link, addr, size, &v)) {
        return v;
    }
    if (size == 4 && addr == HIX_GPU_REG_ID) {
        return HIX_GPU_ID_VALUE;
    }
    if (size == 4 && addr == HIX_GPU_REG_VERSION) {
        return HIX_GPU_VERSION_VALUE;
    }
    if (size == 4 && addr == HIX_GPU_REG_STATUS) {
        return HIX_GPU_STATUS_ERROR | (s->locked ? HIX_GPU_STATUS_LOCKED : 0);
    }
    hix_gpu_count_refusal(s, "read of a failed device", addr, size);
    return HIX_GPU_REFUSED_READ;
}

/* The lockdown check every register access passes first (spec §13): once
 * locked, only the owner's tagged GLRANGE translation gets through. */
static MemTxResult hix_gpu_bar0_read_attrs(void *opaque, hwaddr addr,
                                           uint64_t *data, unsigned size,
                                           MemTxAttrs attrs)
{
    HixGpuState *s = opaque;

    if (!hix_pci_device_access_ok(PCI_DEVICE(s), attrs, addr, false)) {
        hix_gpu_count_refusal(s, "locked read", addr, size);
        *data = HIX_GPU_REFUSED_READ;
        return MEMTX_OK;
    }
    if (s->server) {
        *data = hix_gpu_forward_read(s, addr, size);
        return MEMTX_OK;
    }
    *data = hix_gpu_bar0_read(s, addr, size);
    return MEMTX_OK;
}

static MemTxResult hix_gpu_bar0_write_attrs(void *opaque, hwaddr addr,
                                            uint64_t val, unsigned size,
                                            MemTxAttrs attrs)
{
    HixGpuState *s = opaque;

    if (!hix_pci_device_access_ok(PCI_DEVICE(s), attrs, addr, true)) {
        hix_gpu_count_refusal(s, "locked write", addr, size);
        return MEMTX_OK;
    }
    if (s->server) {
        if (!hix_gpu_link_write(&s->link, addr, size, val)) {
            hix_gpu_count_refusal(s, "write to a failed device", addr, size);
        }
        return MEMTX_OK;
    }
    hix_gpu_bar0_write(s, addr, val, size);
    return MEMTX_OK;
}

static const MemoryRegionOps hix_gpu_bar0_ops = {
    .read_with_attrs = hix_gpu_bar0_read_attrs,
    .write_with_attrs = hix_gpu_bar0_write_attrs,
    .endianness = DEVICE_LITTLE_ENDIAN,
    /* Every width reaches the handlers so that bad ones are counted. */
    .valid = { .min_access_size = 1, .max_access_size = 8, .unaligned = true },
    .impl = { .min_access_size = 1, .max_access_size = 8, .unaligned = true },
};

/* Once the machine exists: hand guest RAM to the server (a shared memfd),
 * as one region below 4 GiB and, if the machine has one, one above. */
static bool hix_gpu_share_ram(HixGpuState *s)
{
    MachineState *ms = MACHINE(qdev_get_machine());
    const int fd = ms->ram ? memory_region_get_fd(ms->ram) : -1;
    struct hix_vgpu_ram_region r[2] = { { 0, ms->ram_size, 0 } };
    uint32_t count = 1;
    MemoryRegionSection high;

    if (fd < 0 || !qemu_ram_is_shared(ms->ram->ram_block)) {
        error_report("hix-gpu: guest RAM must be a shared memfd backend "
                     "(-object memory-backend-memfd,id=ram,share=on,size=... "
                     "-machine memory-backend=ram) for the device server");
        exit(1);
    }
    high = memory_region_find(get_system_memory(), 4 * GiB, 1);
    if (high.mr == ms->ram) {
        r[0].size = high.offset_within_region;
        r[1].gpa = 4 * GiB;
        r[1].size = ms->ram_size - high.offset_within_region;
        r[1].fd_offset = high.offset_within_region;
        count = 2;
    }
    if (high.mr) {
        memory_region_unref(high.mr);
    }
    if (!hix_gpu_link_guest_ram(&s->link, fd, r, count)) {
        error_report("hix-gpu: the device server refused guest RAM");
        return false;
    }
    return true;
}

/* The EPC deny map to the server. More ranges than the protocol carries:
 * the device gets no DMA at all (fail closed) until the EPC shrinks. */
static bool hix_gpu_push_deny(HixGpuState *s,
                              const struct hix_phys_range *ranges, size_t count)
{
    struct hix_vgpu_range r[HIX_VGPU_MAX_DENY_RANGES];

    if (count > HIX_VGPU_MAX_DENY_RANGES) {
        warn_report_once("hix-gpu: EPC too fragmented for the device's deny "
                         "map; the device's DMA is refused entirely");
        r[0] = (struct hix_vgpu_range){ .gpa = 0, .size = UINT64_MAX };
        return hix_gpu_link_dma_deny(&s->link, r, 1);
    }
    for (size_t i = 0; i < count; i++) {
        r[i] = (struct hix_vgpu_range){ .gpa = hix_pa_addr(ranges[i].pa),
                                        .size = ranges[i].size };
    }
    return hix_gpu_link_dma_deny(&s->link, r, (uint32_t)count);
}

static bool hix_gpu_push_current_deny(HixGpuState *s)
{
    const struct hix_phys_range *ranges;
    const size_t count = hix_pci_dma_deny_map(&ranges);

    return hix_gpu_push_deny(s, ranges, count);
}

static void hix_gpu_machine_done(Notifier *n, void *data)
{
    HixGpuState *s = container_of(n, HixGpuState, machine_done);

    /* A device plugged in while enclaves exist gets their deny map now. */
    if (hix_gpu_share_ram(s)) {
        hix_gpu_push_current_deny(s);
    }
}

/* A device whose server died (spec §10.6) reaches a new one on the next
 * reset or lock change: guest RAM, the deny map and the lock state go to it
 * before any register access does. Until one answers, the device stays
 * failed. */
static void hix_gpu_relink(HixGpuState *s)
{
    Error *err = NULL;

    if (!s->server || !s->link.failed) {
        return;
    }
    hix_gpu_link_close(&s->link);
    if (!hix_gpu_link_connect(&s->link, s->server, &err)) {
        warn_report_err(err);
        hix_gpu_link_close(&s->link);
        return;
    }
    if (hix_gpu_share_ram(s) && hix_gpu_push_current_deny(s) &&
        hix_gpu_link_set_lock(&s->link, s->locked, s->owner)) {
        info_report("hix-gpu: reached a new device server at %s", s->server);
    }
}

static void hix_gpu_realize(PCIDevice *pdev, Error **errp)
{
    HixGpuState *s = HIX_GPU(pdev);

    if (pcie_endpoint_cap_init(pdev, HIX_GPU_PCIE_CAP_OFFSET) < 0) {
        error_setg(errp, "hix-gpu: cannot add the PCI Express capability");
        return;
    }
    memory_region_init_io(&s->bar0, OBJECT(s), &hix_gpu_bar0_ops, s,
                          "hix-gpu-bar0", HIX_GPU_BAR0_SIZE);
    pci_register_bar(pdev, 0, PCI_BASE_ADDRESS_SPACE_MEMORY, &s->bar0);
    if (s->server) {
        if (!hix_gpu_link_connect(&s->link, s->server, errp)) {
            return;
        }
        s->machine_done.notify = hix_gpu_machine_done;
        qemu_add_machine_init_done_notifier(&s->machine_done);
    }
}

/* Unrealize (an unplug the lock did not stop, or QEMU tearing down): leave
 * every table of the frontend, and scrub a locked device before it goes. The
 * core keeps the lock for its owner, whose GLRANGE no longer decodes to the
 * BAR (so it aborts, spec §15) until it is destroyed. */
static void hix_gpu_exit(PCIDevice *pdev)
{
    HixGpuState *s = HIX_GPU(pdev);

    if (s->locked) {
        hix_gpu_locked_count--;
        s->locked = false;
        hix_gpu_update_hotpluggable(DEVICE_GET_CLASS(pdev));
    }
    s->scratch = 0;
    if (s->server) {
        /* The server scrubs on the lock change and on reset, then hangs up. */
        hix_gpu_link_set_lock(&s->link, false, 0);
        hix_gpu_link_reset(&s->link);
        hix_gpu_link_close(&s->link);
        if (s->machine_done.notify) {
            qemu_remove_machine_init_done_notifier(&s->machine_done);
            s->machine_done.notify = NULL;
        }
    }
}

static void hix_gpu_reset(DeviceState *dev)
{
    HixGpuState *s = HIX_GPU(dev);

    s->scratch = 0;
    s->bad_accesses = 0;
    if (s->server) {
        hix_gpu_relink(s);
        hix_gpu_link_reset(&s->link);
    }
}

/* hix-lockable.h: the platform's PCI side reaches the device here. */
static void hix_gpu_set_locked(Object *obj, bool locked, uint64_t owner)
{
    HixGpuState *s = HIX_GPU(obj);

    if (locked != s->locked) {
        hix_gpu_locked_count += locked ? 1 : -1;
    }
    s->locked = locked;
    s->owner = locked ? owner : 0;
    hix_gpu_update_hotpluggable(DEVICE_GET_CLASS(obj));
    if (s->server) {
        if (s->link.failed) {
            hix_gpu_relink(s); /* pushes the new lock state itself */
            return;
        }
        /* The server scrubs on every change before it answers. */
        hix_gpu_link_set_lock(&s->link, locked, owner);
    }
}

static void hix_gpu_set_dma_deny(Object *obj,
                                 const struct hix_phys_range *ranges,
                                 size_t count)
{
    HixGpuState *s = HIX_GPU(obj);

    if (s->server) {
        hix_gpu_push_deny(s, ranges, count);
    }
}

static Property hix_gpu_properties[] = {
    DEFINE_PROP_STRING("server", HixGpuState, server),
    DEFINE_PROP_END_OF_LIST(),
};

static void hix_gpu_scrub(Object *obj)
{
    HixGpuState *s = HIX_GPU(obj);

    /* Without a server: the local registers are all there is. With one, the
     * SET_LOCK that follows scrubs VRAM and key slots before it is acked. */
    s->scratch = 0;
    s->bad_accesses = 0;
}

static void hix_gpu_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);
    HixLockableClass *lc = HIX_LOCKABLE_CLASS(klass);

    k->realize = hix_gpu_realize;
    k->exit = hix_gpu_exit;
    k->vendor_id = HIX_GPU_VENDOR_ID;
    k->device_id = HIX_GPU_DEVICE_ID;
    k->revision = HIX_GPU_REVISION;
    k->class_id = HIX_GPU_CLASS_CODE >> 8;
    k->subsystem_vendor_id = HIX_GPU_VENDOR_ID;
    k->subsystem_id = HIX_GPU_DEVICE_ID;
    dc->desc = "OpenHIX virtual GPU";
    dc->reset = hix_gpu_reset;
    lc->set_locked = hix_gpu_set_locked;
    lc->scrub = hix_gpu_scrub;
    lc->set_dma_deny = hix_gpu_set_dma_deny;
    device_class_set_props(dc, hix_gpu_properties);
    set_bit(DEVICE_CATEGORY_DISPLAY, dc->categories);
}

static const TypeInfo hix_gpu_info = {
    .name = TYPE_HIX_GPU,
    .parent = TYPE_PCI_DEVICE,
    .instance_size = sizeof(HixGpuState),
    .class_init = hix_gpu_class_init,
    .interfaces =
        (InterfaceInfo[]){
            { INTERFACE_PCIE_DEVICE },
            { TYPE_HIX_LOCKABLE },
            {},
        },
};

static void hix_gpu_register_types(void)
{
    type_register_static(&hix_gpu_info);
}

type_init(hix_gpu_register_types)
