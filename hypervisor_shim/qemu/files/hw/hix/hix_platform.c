/*
 * OpenHIX: the HIX platform object (docs/specs/hix-isa.md §1).
 *
 *   -object hix-platform,id=hix,key=FILE,audit=FILE[,enforce=on|off]
 *           [,epc-pages=N]
 *
 * Holds the platform key, the EPCM and enclaves (hix_core), the audit log
 * and the abort page. One per machine.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qemu/error-report.h"
#include "qemu/module.h"
#include "qemu/units.h"
#include "qom/object_interfaces.h"
#include "exec/address-spaces.h"
#include "exec/memory.h"
#include "hw/boards.h"
#include "hw/i386/x86.h"
#include "sysemu/reset.h"
#include "sysemu/sysemu.h"
#include "hw/hix/hix.h"
#include "hw/hix/hix-lock.h"
#include "hw/hix/hix-pci.h"

HixPlatform *hix_platform;

#define HIX_DEFAULT_EPC_PAGES 65536 /* 256 MiB */
#define HIX_MAX_EPC_PAGES 1048576   /* 4 GiB */

/* ---- EPC is RAM with one address (spec §16.1) ---------------------------- */

/* The offset in the machine's RAM that guest-physical pa has in the fixed
 * layout (no chipset decode), or false if pa is not RAM in that layout. */
static bool hix_ram_offset(uint64_t pa, uint64_t *offset)
{
    MemoryRegionSection s;
    bool ok = false;

    if (!hix_platform->ram_ready) {
        return false;
    }
    s = memory_region_find(&hix_platform->ram_root, pa, 1);
    if (s.mr) {
        ok = s.mr == current_machine->ram;
        *offset = s.offset_within_region;
        memory_region_unref(s.mr);
    }
    return ok;
}

bool hix_platform_epc_decodes_ram(uint64_t pa)
{
    uint64_t offset;
    MemoryRegionSection s;
    bool ok;

    if (!hix_ram_offset(pa, &offset)) {
        return false;
    }
    s = memory_region_find(get_system_memory(),
                           pa & ~(uint64_t)(HIX_PAGE_SIZE - 1), HIX_PAGE_SIZE);
    ok = s.mr == current_machine->ram &&
         s.offset_within_region == (offset & ~(uint64_t)(HIX_PAGE_SIZE - 1)) &&
         int128_get64(s.size) == HIX_PAGE_SIZE && !s.readonly;
    if (s.mr) {
        memory_region_unref(s.mr);
    }
    return ok;
}

typedef struct HixAliasScan {
    uint64_t pa;     /* the page that is to become EPC */
    uint64_t offset; /* its offset in the machine's RAM */
    bool aliased;    /* another guest-physical range reaches that RAM */
} HixAliasScan;

static bool hix_alias_scan_range(Int128 start, Int128 len,
                                 const MemoryRegion *mr,
                                 hwaddr offset_in_region, void *opaque)
{
    HixAliasScan *a = opaque;
    const uint64_t gpa = int128_get64(start);
    const uint64_t size = int128_get64(len);
    bool overlaps, own;

    if (mr != current_machine->ram) {
        return false;
    }
    overlaps = a->offset < offset_in_region + size &&
               offset_in_region < a->offset + HIX_PAGE_SIZE;
    /* The range through which pa itself reaches the page. */
    own = a->offset >= offset_in_region &&
          gpa + (a->offset - offset_in_region) == a->pa;
    if (overlaps && !own) {
        a->aliased = true;
        return true; /* stop */
    }
    return false;
}

/* The stock test (enforce=off: §16 is not applied): the CPU's view of pa
 * is plain, writable RAM for the whole page. */
static bool hix_decodes_plain_ram(uint64_t pa)
{
    MemoryRegionSection section =
        memory_region_find(get_system_memory(), pa, HIX_PAGE_SIZE);
    bool ram = false;

    if (section.mr) {
        ram = memory_region_is_ram(section.mr) &&
              !memory_region_is_ram_device(section.mr) &&
              !memory_region_is_rom(section.mr) && !section.mr->readonly &&
              int128_get64(section.size) == HIX_PAGE_SIZE;
        memory_region_unref(section.mr);
    }
    return ram;
}

/* EADD/ECREATE's page test: the CPU sees the machine's RAM at pa, at its
 * fixed-layout offset, writable and uncovered, and no other address reaches
 * that RAM. */
static bool hix_mem_is_ram(void *opaque, hix_paddr_t epc)
{
    HixPlatform *s = opaque;
    const uint64_t pa = hix_pa_addr(epc);
    HixAliasScan a = { .pa = pa };

    if (!s->enforce) {
        return hix_decodes_plain_ram(pa);
    }
    if (!hix_platform_epc_decodes_ram(pa) || !hix_ram_offset(pa, &a.offset)) {
        return false;
    }
    WITH_RCU_READ_LOCK_GUARD()
    {
        flatview_for_each_range(
            address_space_to_flatview(&address_space_memory),
            hix_alias_scan_range, &a);
    }
    return !a.aliased;
}

/* The platform's own accesses to EPC go to the RAM itself, whatever the
 * chipset decodes at pa now (with enforce=off: through the decode, as a
 * stock machine would, so the attack controls show what that allows). */
static AddressSpace *hix_epc_as(HixPlatform *s)
{
    return s->enforce && s->ram_ready ? &s->ram_as : &address_space_memory;
}

static void hix_mem_read(void *opaque, hix_paddr_t pa, void *buf, size_t len)
{
    address_space_read(hix_epc_as(opaque), hix_pa_addr(pa),
                       MEMTXATTRS_UNSPECIFIED, buf, len);
}

static void hix_mem_write(void *opaque, hix_paddr_t pa, const void *buf,
                          size_t len)
{
    address_space_write(hix_epc_as(opaque), hix_pa_addr(pa),
                        MEMTXATTRS_UNSPECIFIED, buf, len);
}

/* Once the machine exists: the RAM address space, SVM and SMM (§16). */
static void hix_platform_machine_done(Notifier *n, void *data)
{
    HixPlatform *s = container_of(n, HixPlatform, machine_done);
    MachineState *ms = current_machine;
    X86MachineState *x86ms =
        (X86MachineState *)object_dynamic_cast(OBJECT(ms), TYPE_X86_MACHINE);

    /* The machine's size is known only now (objects are created before
     * -smp applies). TCG's x86 machines stop at 255 APIC ids before this
     * point; the check keeps the vCPU table's bound true for any other. */
    if (ms->smp.max_cpus > HIX_MAX_VCPUS) {
        error_report("hix-platform: the machine has up to %u vCPUs; the "
                     "platform supports at most %d",
                     ms->smp.max_cpus, HIX_MAX_VCPUS);
        exit(1);
    }
    if (s->enforce && x86ms && x86_machine_is_smm_enabled(x86ms)) {
        error_report("hix-platform: enforce=on needs a machine without SMM "
                     "(-machine smm=off; docs/specs/hix-isa.md §16.4)");
        exit(1);
    }
    memory_region_init(&s->ram_root, OBJECT(s), "hix-ram", UINT64_MAX);
    if (ms->ram && x86ms) {
        memory_region_init_alias(&s->ram_low, OBJECT(s), "hix-ram-below-4g",
                                 ms->ram, 0, x86ms->below_4g_mem_size);
        memory_region_add_subregion(&s->ram_root, 0, &s->ram_low);
        if (x86ms->above_4g_mem_size) {
            memory_region_init_alias(
                &s->ram_high, OBJECT(s), "hix-ram-above-4g", ms->ram,
                x86ms->below_4g_mem_size, x86ms->above_4g_mem_size);
            memory_region_add_subregion(&s->ram_root, x86ms->above_4g_mem_start,
                                        &s->ram_high);
        }
        address_space_init(&s->ram_as, &s->ram_root, "hix-ram");
        s->ram_ready = true;
    } else {
        warn_report("hix-platform: no x86 machine RAM; EADD refuses every "
                    "page");
    }
    hix_cpu_platform_reset(s->enforce);
}

static void hix_scrub_device(void *opaque, hix_bdf_t bdf)
{
    hix_pci_scrub(bdf);
}

static const struct hix_mem_ops hix_guest_memory = {
    .is_ram = hix_mem_is_ram,
    .read = hix_mem_read,
    .write = hix_mem_write,
    .scrub_device = hix_scrub_device,
};

static uint64_t hix_abort_read(void *opaque, hwaddr addr, unsigned size)
{
    return ~0ull;
}

static void hix_abort_write(void *opaque, hwaddr addr, uint64_t val,
                            unsigned size)
{
}

static const MemoryRegionOps hix_abort_ops = {
    .read = hix_abort_read,
    .write = hix_abort_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = { .min_access_size = 1, .max_access_size = 8, .unaligned = true },
    .impl = { .min_access_size = 1, .max_access_size = 8, .unaligned = true },
};

static void hix_platform_reset(void *opaque)
{
    HixPlatform *s = opaque;

    /* RAM survives a reset (and QEMU's S3 wake-up is a reset); enclave
     * memory must not (spec §16.6). Devices were reset before this handler
     * (registered after the machine's); the scrub goes to RAM directly.
     * With enforce=off the pages keep their contents (the control). */
    hix_core_reset(&s->core);
    hix_pci_epc_changed();
    hix_cpu_platform_reset(s->enforce);
    if (!s->abort_page_mapped) {
        memory_region_add_subregion_overlap(
            get_system_memory(), HIX_ABORT_PAGE_PA, &s->abort_page, 1);
        s->abort_page_mapped = true;
    }
}

static void hix_platform_complete(UserCreatable *uc, Error **errp)
{
    HixPlatform *s = HIX_PLATFORM(uc);
    g_autofree gchar *key = NULL;
    gsize key_len = 0;
    g_autoptr(GError) gerr = NULL;

    if (hix_platform) {
        error_setg(errp, "hix-platform: only one per machine");
        return;
    }
    if (!s->key_path || !s->audit_path) {
        error_setg(errp, "hix-platform: key= and audit= are required");
        return;
    }
    if (!g_file_get_contents(s->key_path, &key, &key_len, &gerr)) {
        error_setg(errp, "hix-platform: cannot read key %s: %s", s->key_path,
                   gerr->message);
        return;
    }
    if (key_len != crypto_sign_SECRETKEYBYTES) {
        error_setg(errp,
                   "hix-platform: %s holds %zu bytes, not an Ed25519 "
                   "secret key (%u bytes)",
                   s->key_path, (size_t)key_len, crypto_sign_SECRETKEYBYTES);
        sodium_memzero(key, key_len);
        return;
    }
    s->audit = fopen(s->audit_path, "w");
    if (!s->audit) {
        error_setg_errno(errp, errno, "hix-platform: cannot open audit log %s",
                         s->audit_path);
        sodium_memzero(key, key_len);
        return;
    }
    if (hix_core_init(&s->core, (const uint8_t *)key, s->enforce, s->epc_pages,
                      s->audit, &hix_guest_memory, s) != 0) {
        error_setg(errp,
                   "hix-platform: %s is not a consistent Ed25519 key "
                   "(public half does not match the seed)",
                   s->key_path);
        sodium_memzero(key, key_len);
        fclose(s->audit);
        s->audit = NULL;
        return;
    }
    sodium_memzero(key, key_len);
    qemu_mutex_init(&s->lock);
    memory_region_init_io(&s->abort_page, OBJECT(s), &hix_abort_ops, s,
                          "hix-abort-page", HIX_PAGE_SIZE);
    qemu_register_reset(hix_platform_reset, s);
    if (s->enforce && object_property_find(OBJECT(current_machine), "smm")) {
        /* §16.4. An explicit smm=on on the command line is applied after
         * this and refused once the machine exists. */
        object_property_set_str(OBJECT(current_machine), "smm", "off",
                                &error_abort);
    }
    s->machine_done.notify = hix_platform_machine_done;
    qemu_add_machine_init_done_notifier(&s->machine_done);
    hix_platform = s;
}

static char *hix_get_key(Object *obj, Error **errp)
{
    return g_strdup(HIX_PLATFORM(obj)->key_path);
}

static void hix_set_key(Object *obj, const char *value, Error **errp)
{
    HixPlatform *s = HIX_PLATFORM(obj);

    g_free(s->key_path);
    s->key_path = g_strdup(value);
}

static char *hix_get_audit(Object *obj, Error **errp)
{
    return g_strdup(HIX_PLATFORM(obj)->audit_path);
}

static void hix_set_audit(Object *obj, const char *value, Error **errp)
{
    HixPlatform *s = HIX_PLATFORM(obj);

    g_free(s->audit_path);
    s->audit_path = g_strdup(value);
}

static bool hix_get_enforce(Object *obj, Error **errp)
{
    return HIX_PLATFORM(obj)->enforce;
}

static void hix_set_enforce(Object *obj, bool value, Error **errp)
{
    HIX_PLATFORM(obj)->enforce = value;
}

static void hix_get_epc_pages(Object *obj, Visitor *v, const char *name,
                              void *opaque, Error **errp)
{
    uint32_t value = HIX_PLATFORM(obj)->epc_pages;

    visit_type_uint32(v, name, &value, errp);
}

static void hix_set_epc_pages(Object *obj, Visitor *v, const char *name,
                              void *opaque, Error **errp)
{
    uint32_t value;

    if (!visit_type_uint32(v, name, &value, errp)) {
        return;
    }
    if (value == 0 || value > HIX_MAX_EPC_PAGES) {
        error_setg(errp, "hix-platform: epc-pages must be 1 to %u, not %u",
                   HIX_MAX_EPC_PAGES, value);
        return;
    }
    HIX_PLATFORM(obj)->epc_pages = value;
}

static void hix_platform_init(Object *obj)
{
    HixPlatform *s = HIX_PLATFORM(obj);

    s->enforce = true;
    s->epc_pages = HIX_DEFAULT_EPC_PAGES;
}

static void hix_platform_finalize(Object *obj)
{
    HixPlatform *s = HIX_PLATFORM(obj);

    if (hix_platform == s) {
        hix_platform = NULL;
        hix_core_destroy(&s->core);
        if (s->audit) {
            fclose(s->audit);
        }
    }
    g_free(s->key_path);
    g_free(s->audit_path);
}

static void hix_platform_class_init(ObjectClass *oc, void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);

    ucc->complete = hix_platform_complete;
    object_class_property_add_str(oc, "key", hix_get_key, hix_set_key);
    object_class_property_set_description(
        oc, "key", "file holding the platform's Ed25519 secret key (64 bytes)");
    object_class_property_add_str(oc, "audit", hix_get_audit, hix_set_audit);
    object_class_property_set_description(oc, "audit",
                                          "file for the JSON-lines audit log");
    object_class_property_add_bool(oc, "enforce", hix_get_enforce,
                                   hix_set_enforce);
    object_class_property_set_description(
        oc, "enforce", "on: EPC memory checks active; off: attack controls");
    object_class_property_add(oc, "epc-pages", "uint32", hix_get_epc_pages,
                              hix_set_epc_pages, NULL, NULL);
    object_class_property_set_description(
        oc, "epc-pages", "EPCM capacity in 4 KiB pages (default 65536)");
}

static const TypeInfo hix_platform_info = {
    .name = TYPE_HIX_PLATFORM,
    .parent = TYPE_OBJECT,
    .instance_size = sizeof(HixPlatform),
    .instance_init = hix_platform_init,
    .instance_finalize = hix_platform_finalize,
    .class_init = hix_platform_class_init,
    .interfaces =
        (InterfaceInfo[]){
            { TYPE_USER_CREATABLE },
            {},
        },
};

static void hix_platform_register_types(void)
{
    type_register_static(&hix_platform_info);
}

type_init(hix_platform_register_types)
