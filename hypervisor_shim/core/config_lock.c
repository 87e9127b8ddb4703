/* The configuration-space lock (docs/specs/hix-isa.md §14): per register,
 * the bits that stay writable while a device (or a device below a bridge)
 * is locked. Bytes no rule covers are writable as usual. */
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

_Static_assert(sizeof(endpoint_rules) / sizeof(endpoint_rules[0]) == 8, "spec §14 table");
_Static_assert(sizeof(bridge_rules) / sizeof(bridge_rules[0]) == 9, "spec §14 table");

/* The writable mask of the byte at off: 0xFF when no rule covers it. */
static uint8_t writable_byte(const struct cfg_rule* rules, size_t n, uint32_t off) {
  for (size_t i = 0; i < n; i++) {
    if (off >= rules[i].offset && off < (uint32_t)rules[i].offset + rules[i].size) {
      return (uint8_t)(rules[i].writable >> (8 * (off - rules[i].offset)));
    }
  }
  return 0xFF;
}

bool hix_cfg_filter(bool bridge, uint32_t addr, uint32_t len, uint32_t old, uint32_t val,
                    uint32_t* out, uint32_t* byte_mask) {
  const struct cfg_rule* rules = bridge ? bridge_rules : endpoint_rules;
  const size_t n = bridge ? sizeof(bridge_rules) / sizeof(bridge_rules[0])
                          : sizeof(endpoint_rules) / sizeof(endpoint_rules[0]);
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

bool hix_cfg_is_bar(uint32_t addr, unsigned* bar) {
  if (addr < 0x10 || addr >= 0x28) return false;
  *bar = (addr - 0x10) / 4;
  return true;
}
