/* The configuration-space lock (docs/specs/hix-isa.md §14) and the chipset
 * decode lock (§16.2). A locked device and the bridges upstream of it are
 * default deny: per register, the bits the table lets the OS change; every
 * other bit of their configuration space keeps its value. The chipset lock
 * lists the registers it holds and leaves the rest alone. */
#include "hix_core.h"

struct cfg_rule {
  uint8_t devices; /* CFG_ENDPOINT | CFG_BRIDGE */
  uint16_t offset; /* from the start of the structure */
  uint8_t size;
  uint32_t writable; /* bits the OS may still change */
};

#define CFG_ENDPOINT 1u
#define CFG_BRIDGE 2u
#define CFG_BOTH (CFG_ENDPOINT | CFG_BRIDGE)

/* Header registers (PCI Local Bus 3.0, type 0 and type 1 headers). */
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_CACHE_LINE_SIZE 0x0c
#define PCI_LATENCY_TIMER 0x0d
#define PCI_SEC_LATENCY_TIMER 0x1b
#define PCI_SEC_STATUS 0x1e
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_BASE_ADDRESS_0 0x10
#define PCI_BASE_ADDRESS_5 0x24

#define PCI_COMMAND_IO_MEM 0x0003u
#define PCI_STATUS_ERRORS 0xf900u /* the write-1-to-clear error bits */

static const struct cfg_rule header_rules[] = {
    {CFG_BOTH, PCI_COMMAND, 2, 0xFFFFu & ~PCI_COMMAND_IO_MEM},
    {CFG_BOTH, PCI_STATUS, 2, PCI_STATUS_ERRORS},
    {CFG_BOTH, PCI_CACHE_LINE_SIZE, 1, 0xFFu},
    {CFG_BOTH, PCI_LATENCY_TIMER, 1, 0xFFu},
    {CFG_BRIDGE, PCI_SEC_LATENCY_TIMER, 1, 0xFFu},
    {CFG_BRIDGE, PCI_SEC_STATUS, 2, PCI_STATUS_ERRORS},
    {CFG_BOTH, PCI_INTERRUPT_LINE, 1, 0xFFu},
};

/* The PCI Express capability (id 0x10), offsets from its start. */
#define PCI_CAP_ID_PM 0x01
#define PCI_CAP_ID_EXP 0x10
#define PCI_EXP_DEVCTL 0x08
#define PCI_EXP_DEVSTA 0x0a
#define PCI_EXP_LNKCTL 0x10
#define PCI_EXP_LNKSTA 0x12
#define PCI_EXP_SLTSTA 0x1a
#define PCI_EXP_RTCTL 0x1c
#define PCI_EXP_RTSTA 0x20
#define PCI_EXP_DEVCTL2 0x28
#define PCI_EXP_LNKCTL2 0x30

#define PCI_EXP_DEVCTL_BCR_FLR 0x8000u
#define PCI_EXP_LNKCTL_LD_RL 0x0030u /* Link Disable, Retrain Link */
#define PCI_EXP_DEVCTL2_ARI 0x0020u  /* ARI Forwarding Enable */

static const struct cfg_rule pcie_rules[] = {
    {CFG_BOTH, PCI_EXP_DEVCTL, 2, 0xFFFFu & ~PCI_EXP_DEVCTL_BCR_FLR},
    {CFG_BOTH, PCI_EXP_DEVSTA, 2, 0x000Fu},
    {CFG_BOTH, PCI_EXP_LNKCTL, 2, 0xFFFFu & ~PCI_EXP_LNKCTL_LD_RL},
    {CFG_BOTH, PCI_EXP_LNKSTA, 2, 0xC000u},
    {CFG_BRIDGE, PCI_EXP_SLTSTA, 2, 0x011Fu},
    {CFG_BRIDGE, PCI_EXP_RTCTL, 2, 0x001Fu},
    {CFG_BRIDGE, PCI_EXP_RTSTA, 4, 0x00010000u},
    {CFG_BOTH, PCI_EXP_DEVCTL2, 2, 0xFFFFu & ~PCI_EXP_DEVCTL2_ARI},
    {CFG_BOTH, PCI_EXP_LNKCTL2, 2, 0xFFFFu},
};

/* Power management (id 0x01): PME status and enable, not the power state
 * (D3hot to D0 resets a device). */
#define PCI_PM_CTRL 0x04
#define PCI_PM_CTRL_PME 0x8100u

static const struct cfg_rule pm_rules[] = {
    {CFG_BOTH, PCI_PM_CTRL, 2, PCI_PM_CTRL_PME},
};

/* Advanced Error Reporting (extended id 0x0001): error logging only. */
#define PCI_EXT_CAP_ID_ERR 0x0001
#define PCI_ERR_UNCOR_STATUS 0x04
#define PCI_ERR_UNCOR_MASK 0x08
#define PCI_ERR_UNCOR_SEVER 0x0c
#define PCI_ERR_COR_STATUS 0x10
#define PCI_ERR_COR_MASK 0x14
#define PCI_ERR_CAP 0x18
#define PCI_ERR_ROOT_COMMAND 0x2c
#define PCI_ERR_ROOT_STATUS 0x30

static const struct cfg_rule aer_rules[] = {
    {CFG_BOTH, PCI_ERR_UNCOR_STATUS, 4, 0xFFFFFFFFu},
    {CFG_BOTH, PCI_ERR_UNCOR_MASK, 4, 0xFFFFFFFFu},
    {CFG_BOTH, PCI_ERR_UNCOR_SEVER, 4, 0xFFFFFFFFu},
    {CFG_BOTH, PCI_ERR_COR_STATUS, 4, 0xFFFFFFFFu},
    {CFG_BOTH, PCI_ERR_COR_MASK, 4, 0xFFFFFFFFu},
    {CFG_BOTH, PCI_ERR_CAP, 4, 0xFFFFFFFFu},
    {CFG_BRIDGE, PCI_ERR_ROOT_COMMAND, 4, 0xFFFFFFFFu},
    {CFG_BRIDGE, PCI_ERR_ROOT_STATUS, 4, 0xFFFFFFFFu},
};

/* Which table covers a structure; a structure with none is all locked. */
struct cfg_table {
  enum hix_cfg_area area;
  uint16_t cap_id; /* ignored for the header */
  const struct cfg_rule* rules;
  size_t count;
};

#define RULES(r) (r), sizeof(r) / sizeof((r)[0])

static const struct cfg_table lock_tables[] = {
    {HIX_CFG_HEADER, 0, RULES(header_rules)},
    {HIX_CFG_CAP, PCI_CAP_ID_EXP, RULES(pcie_rules)},
    {HIX_CFG_CAP, PCI_CAP_ID_PM, RULES(pm_rules)},
    {HIX_CFG_EXT_CAP, PCI_EXT_CAP_ID_ERR, RULES(aer_rules)},
};

_Static_assert(sizeof(header_rules) / sizeof(header_rules[0]) +
                       sizeof(pcie_rules) / sizeof(pcie_rules[0]) +
                       sizeof(pm_rules) / sizeof(pm_rules[0]) +
                       sizeof(aer_rules) / sizeof(aer_rules[0]) ==
                   25,
               "spec §14 table");

/* The writable mask of byte `off` under `rules`: `otherwise` when no rule
 * covers it. */
static uint8_t rule_byte(const struct cfg_rule* rules, size_t n, unsigned devices, uint32_t off,
                         uint8_t otherwise) {
  for (size_t i = 0; i < n; i++) {
    if ((rules[i].devices & devices) != 0 && off >= rules[i].offset &&
        off < (uint32_t)rules[i].offset + rules[i].size) {
      return (uint8_t)(rules[i].writable >> (8 * (off - rules[i].offset)));
    }
  }
  return otherwise;
}

uint8_t hix_cfg_writable_byte(bool bridge, struct hix_cfg_place at) {
  for (size_t i = 0; i < sizeof(lock_tables) / sizeof(lock_tables[0]); i++) {
    const struct cfg_table* t = &lock_tables[i];
    if (t->area == at.area && (at.area == HIX_CFG_HEADER || t->cap_id == at.cap_id)) {
      return rule_byte(t->rules, t->count, bridge ? CFG_BRIDGE : CFG_ENDPOINT, at.offset, 0x00);
    }
  }
  return 0x00; /* unclaimed bytes and capabilities the table does not name */
}

/* q35 MCH: the registers that decode guest-physical memory (§16.2). */
#define MCH_PCIEXBAR 0x60
#define MCH_PAM0 0x90
#define MCH_F_SMBASE 0x9c /* QEMU's SMBASE blackhole */
#define MCH_SMRAM 0x9d
#define MCH_ESMRAMC 0x9e /* TSEG */
#define ICH9_LPC_RCBA 0xf0

static const struct cfg_rule mch_rules[] = {
    {CFG_BOTH, MCH_PCIEXBAR, 8, 0}, {CFG_BOTH, MCH_PAM0, 7, 0}, /* PAM0-PAM6 */
    {CFG_BOTH, MCH_F_SMBASE, 1, 0}, {CFG_BOTH, MCH_SMRAM, 1, 0}, {CFG_BOTH, MCH_ESMRAMC, 1, 0},
};

/* ICH9 LPC bridge. */
static const struct cfg_rule lpc_rules[] = {
    {CFG_BOTH, ICH9_LPC_RCBA, 4, 0},
};

_Static_assert(sizeof(mch_rules) / sizeof(mch_rules[0]) +
                       sizeof(lpc_rules) / sizeof(lpc_rules[0]) ==
                   6,
               "spec §16.2 table");

/* Applies per-byte writable masks: a changed bit outside them is denied and
 * keeps its old value. */
static bool apply(const uint8_t writable[4], const struct hix_cfg_write* wr,
                  struct hix_cfg_filtered* out) {
  bool denied = false;

  out->value = 0;
  out->byte_mask = 0;
  for (uint32_t i = 0; i < wr->len && i < 4; i++) {
    const uint8_t w = writable[i];
    const uint8_t o = (uint8_t)(wr->old >> (8 * i));
    const uint8_t v = (uint8_t)(wr->val >> (8 * i));
    if ((uint8_t)((o ^ v) & ~w) != 0) denied = true;
    if (w != 0) out->byte_mask |= 1u << i;
    out->value |= (uint32_t)((uint8_t)((v & w) | (o & ~w))) << (8 * i);
  }
  return denied;
}

bool hix_cfg_filter(bool bridge, struct hix_cfg_place at, const struct hix_cfg_write* w,
                    struct hix_cfg_filtered* out) {
  uint8_t writable[4] = {0};
  for (uint32_t i = 0; i < w->len && i < 4; i++) {
    struct hix_cfg_place b = at;
    b.offset += i;
    writable[i] = hix_cfg_writable_byte(bridge, b);
  }
  return apply(writable, w, out);
}

bool hix_chipset_locked(const struct hix_core* core) {
  return core->enforce && hix_epcm_count(core) > 0;
}

bool hix_chipset_filter(enum hix_chipset chip, uint32_t addr, const struct hix_cfg_write* w,
                        struct hix_cfg_filtered* out) {
  const struct cfg_rule* rules = chip == HIX_CHIPSET_MCH ? mch_rules : lpc_rules;
  const size_t n = chip == HIX_CHIPSET_MCH ? sizeof(mch_rules) / sizeof(mch_rules[0])
                                           : sizeof(lpc_rules) / sizeof(lpc_rules[0]);
  uint8_t writable[4] = {0};
  for (uint32_t i = 0; i < w->len && i < 4; i++) {
    writable[i] = rule_byte(rules, n, CFG_BOTH, addr + i, 0xFF); /* the rest is not ours */
  }
  return apply(writable, w, out);
}

bool hix_cfg_is_bar(uint32_t addr, unsigned* bar) {
  if (addr < PCI_BASE_ADDRESS_0 || addr >= PCI_BASE_ADDRESS_5 + 4) return false;
  *bar = (addr - PCI_BASE_ADDRESS_0) / 4;
  return true;
}
