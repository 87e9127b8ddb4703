/* The configuration-space lock (docs/specs/hix-isa.md §14, §16.5) and the
 * chipset decode lock (§16.2): per register, the bits that stay writable
 * while a device (or a device below a bridge) is locked, or while any EPC
 * page exists. Bytes no rule covers are writable as usual. */
#include "hix_core.h"

struct cfg_rule {
  uint16_t offset;
  uint8_t size;
  uint32_t writable; /* bits that stay writable while locked */
};

#define PCI_COMMAND_IO_MEM 0x3u

/* Locked endpoint: BARs, expansion ROM and the decode enables. */
static const struct cfg_rule endpoint_rules[] = {
    {0x04, 2, 0xFFFFu & ~PCI_COMMAND_IO_MEM}, /* COMMAND */
    {0x10, 4, 0},                             /* BAR0 */
    {0x14, 4, 0},                             /* BAR1 */
    {0x18, 4, 0},                             /* BAR2 */
    {0x1C, 4, 0},                             /* BAR3 */
    {0x20, 4, 0},                             /* BAR4 */
    {0x24, 4, 0},                             /* BAR5 */
    {0x30, 4, 0},                             /* expansion ROM BAR */
};

/* Bridge upstream of a locked device: routing of the path to it. */
static const struct cfg_rule bridge_rules[] = {
    {0x04, 2, 0xFFFFu & ~PCI_COMMAND_IO_MEM}, /* COMMAND */
    {0x18, 3, 0},                             /* primary/secondary/subordinate bus */
    {0x1C, 2, 0},                             /* I/O base/limit */
    {0x20, 4, 0},                             /* memory base/limit */
    {0x24, 4, 0},                             /* prefetchable base/limit */
    {0x28, 4, 0},                             /* prefetchable base upper 32 */
    {0x2C, 4, 0},                             /* prefetchable limit upper 32 */
    {0x30, 4, 0},                             /* I/O base/limit upper 16 */
    {0x3E, 2, 0},                             /* bridge control */
};

/* PCI Express capability registers, offsets from the capability (§16.5). */
#define PCI_EXP_DEVCTL_BCR_FLR 0x8000u
#define PCI_EXP_LNKCTL_LD_RL 0x0030u /* Link Disable, Retrain Link */

static const struct cfg_rule endpoint_pcie_rules[] = {
    {0x08, 2, 0xFFFFu & ~PCI_EXP_DEVCTL_BCR_FLR}, /* Device Control */
};

static const struct cfg_rule bridge_pcie_rules[] = {
    {0x08, 2, 0xFFFFu & ~PCI_EXP_DEVCTL_BCR_FLR}, /* Device Control */
    {0x10, 2, 0xFFFFu & ~PCI_EXP_LNKCTL_LD_RL},   /* Link Control */
    {0x18, 2, 0},                                 /* Slot Control */
};

/* q35 MCH: the registers that decode guest-physical memory (§16.2). */
static const struct cfg_rule mch_rules[] = {
    {0x60, 8, 0}, /* PCIEXBAR */
    {0x90, 7, 0}, /* PAM0-PAM6 */
    {0x9C, 1, 0}, /* F_SMBASE (QEMU's SMBASE blackhole) */
    {0x9D, 1, 0}, /* SMRAM */
    {0x9E, 1, 0}, /* ESMRAMC (TSEG) */
};

/* ICH9 LPC bridge. */
static const struct cfg_rule lpc_rules[] = {
    {0xF0, 4, 0}, /* RCBA */
};

#define RULES(r) (r), sizeof(r) / sizeof((r)[0])

_Static_assert(sizeof(endpoint_rules) / sizeof(endpoint_rules[0]) == 8, "spec §14 table");
_Static_assert(sizeof(bridge_rules) / sizeof(bridge_rules[0]) == 9, "spec §14 table");
_Static_assert(sizeof(bridge_pcie_rules) / sizeof(bridge_pcie_rules[0]) == 3, "spec §16.5 table");
_Static_assert(sizeof(mch_rules) / sizeof(mch_rules[0]) +
                       sizeof(lpc_rules) / sizeof(lpc_rules[0]) ==
                   6,
               "spec §16.2 table");

/* The writable mask of the byte at off: 0xFF when no rule covers it. */
static uint8_t writable_byte(const struct cfg_rule* rules, size_t n, uint32_t off) {
  for (size_t i = 0; i < n; i++) {
    if (off >= rules[i].offset && off < (uint32_t)rules[i].offset + rules[i].size) {
      return (uint8_t)(rules[i].writable >> (8 * (off - rules[i].offset)));
    }
  }
  return 0xFF;
}

static bool filter(const struct cfg_rule* rules, size_t n, uint32_t addr, uint32_t len,
                   uint32_t old, uint32_t val, uint32_t* out, uint32_t* byte_mask) {
  bool denied = false;

  *out = 0;
  *byte_mask = 0;
  for (uint32_t i = 0; i < len && i < 4; i++) {
    const uint8_t w = writable_byte(rules, n, addr + i);
    const uint8_t o = (uint8_t)(old >> (8 * i));
    const uint8_t v = (uint8_t)(val >> (8 * i));
    if ((uint8_t)((o ^ v) & ~w) != 0) denied = true;
    if (w != 0) *byte_mask |= 1u << i;
    *out |= (uint32_t)((uint8_t)((v & w) | (o & ~w))) << (8 * i);
  }
  return denied;
}

bool hix_cfg_filter(bool bridge, uint32_t addr, uint32_t len, uint32_t old, uint32_t val,
                    uint32_t* out, uint32_t* byte_mask) {
  return bridge ? filter(RULES(bridge_rules), addr, len, old, val, out, byte_mask)
                : filter(RULES(endpoint_rules), addr, len, old, val, out, byte_mask);
}

bool hix_cfg_filter_pcie(bool bridge, uint32_t cap_off, uint32_t len, uint32_t old, uint32_t val,
                         uint32_t* out, uint32_t* byte_mask) {
  return bridge ? filter(RULES(bridge_pcie_rules), cap_off, len, old, val, out, byte_mask)
                : filter(RULES(endpoint_pcie_rules), cap_off, len, old, val, out, byte_mask);
}

bool hix_chipset_locked(const struct hix_core* core) {
  return core->enforce && hix_epcm_count(core) > 0;
}

bool hix_chipset_filter(enum hix_chipset chip, uint32_t addr, uint32_t len, uint32_t old,
                        uint32_t val, uint32_t* out, uint32_t* byte_mask) {
  return chip == HIX_CHIPSET_MCH ? filter(RULES(mch_rules), addr, len, old, val, out, byte_mask)
                                 : filter(RULES(lpc_rules), addr, len, old, val, out, byte_mask);
}

bool hix_cfg_is_bar(uint32_t addr, unsigned* bar) {
  if (addr < 0x10 || addr >= 0x28) return false;
  *bar = (addr - 0x10) / 4;
  return true;
}
