/* hix-gpu PCI identity, BAR0 register file and admin commands
 * (docs/specs/hix-gpu.md §1-§4).
 *
 * Plain C so that the QEMU frontend and our C++ code share one definition; C++
 * code uses the typed view in hix/gpu/regs.hpp rather than these names. */
#ifndef HIX_ABI_HIX_GPU_REGS_H
#define HIX_ABI_HIX_GPU_REGS_H

#define HIX_GPU_VENDOR_ID 0x1234u
#define HIX_GPU_DEVICE_ID 0x4858u /* ASCII "HX" */
#define HIX_GPU_REVISION 0x01u
#define HIX_GPU_CLASS_CODE 0x030200u /* display controller, 3D */
#define HIX_GPU_PCIE_CAP_OFFSET 0x80u

#define HIX_GPU_BAR0_SIZE 0x10000u /* 64 KiB register file */

/* BAR0 register offsets; every register is 32 bits wide. */
enum hix_gpu_reg32 {
  HIX_GPU_REG_ID = 0x0000,               /* RO: identification, HIX_GPU_ID_VALUE */
  HIX_GPU_REG_VERSION = 0x0004,          /* RO: register-map revision */
  HIX_GPU_REG_STATUS = 0x0008,           /* RO: HIX_GPU_STATUS_* bits */
  HIX_GPU_REG_SCRATCH = 0x000C,          /* RW: free for software */
  HIX_GPU_REG_BADACC = 0x0010,           /* RO: refused register accesses */
  HIX_GPU_REG_CAPS = 0x0014,             /* RO: limits, HIX_GPU_CAPS_VALUE */
  HIX_GPU_REG_CMD = 0x0020,              /* WO: admin opcode, HIX_GPU_CMD_* */
  HIX_GPU_REG_CMD_STATUS = 0x0024,       /* RO: status of the last admin command */
  HIX_GPU_REG_RESULT0 = 0x0028,          /* RO: admin result word 0 */
  HIX_GPU_REG_RESULT1 = 0x002C,          /* RO: admin result word 1 */
  HIX_GPU_REG_ARG0 = 0x0030,             /* RW: admin argument 0 */
  HIX_GPU_REG_ARG1 = 0x0034,             /* RW: admin argument 1 */
  HIX_GPU_REG_ARG2 = 0x0038,             /* RW: admin argument 2 */
  HIX_GPU_REG_ARG3 = 0x003C,             /* RW: admin argument 3 */
  HIX_GPU_REG_KEY0 = 0x0040,             /* WO: key window bytes 0..3 */
  HIX_GPU_REG_KEY1 = 0x0044,             /* WO: key window bytes 4..7 */
  HIX_GPU_REG_KEY2 = 0x0048,             /* WO: key window bytes 8..11 */
  HIX_GPU_REG_KEY3 = 0x004C,             /* WO: key window bytes 12..15 */
  HIX_GPU_REG_KEY4 = 0x0050,             /* WO: key window bytes 16..19 */
  HIX_GPU_REG_KEY5 = 0x0054,             /* WO: key window bytes 20..23 */
  HIX_GPU_REG_KEY6 = 0x0058,             /* WO: key window bytes 24..27 */
  HIX_GPU_REG_KEY7 = 0x005C,             /* WO: key window bytes 28..31 */
  HIX_GPU_REG_RING_BASE_LO = 0x0060,     /* RW: ring base, guest-physical, low */
  HIX_GPU_REG_RING_BASE_HI = 0x0064,     /* RW: ring base, high */
  HIX_GPU_REG_RING_SIZE = 0x0068,        /* RW: ring entries, power of two */
  HIX_GPU_REG_DOORBELL = 0x0070,         /* WO: producer index */
  HIX_GPU_REG_RING_HEAD = 0x0074,        /* RO: consumer index */
  HIX_GPU_REG_RING_SEQ = 0x0078,         /* RO: next expected sequence number, low */
  HIX_GPU_REG_FENCE = 0x007C,            /* RO: fence of the last completed entry */
  HIX_GPU_REG_EXEC_ERRORS = 0x0080,      /* RO: failed command buffers */
  HIX_GPU_REG_LAST_ERROR = 0x0084,       /* RO: status | op index << 16 */
  HIX_GPU_REG_LAST_ERROR_FENCE = 0x0088, /* RO: fence of the last failure */
  HIX_GPU_REG_RING_FORGED = 0x008C,      /* RO: entries with a bad tag */
  HIX_GPU_REG_RING_REPLAYED = 0x0090,    /* RO: entries with an old sequence number */
  HIX_GPU_REG_RING_REORDERED = 0x0094,   /* RO: entries with a future sequence number */
  HIX_GPU_REG_RING_MALFORMED = 0x0098,   /* RO: malformed entries and doorbells */
  HIX_GPU_REG_DMA_DENIED = 0x009C,       /* RO: refused DMA requests */
  HIX_GPU_REG_AUTH_FAILURES = 0x00A0,    /* RO: sealed chunks that failed to open */
  HIX_GPU_REG_CMD_REJECTS = 0x00A4,      /* RO: failed admin commands */
};

#define HIX_GPU_ID_VALUE 0x48495847u /* ASCII "HIXG", big-endian reading */
#define HIX_GPU_VERSION_MAJOR 1u
#define HIX_GPU_VERSION_MINOR 1u
#define HIX_GPU_VERSION_VALUE ((HIX_GPU_VERSION_MAJOR << 16) | HIX_GPU_VERSION_MINOR)

/* STATUS bits */
#define HIX_GPU_STATUS_READY (1u << 0)
#define HIX_GPU_STATUS_LOCKED (1u << 1)
#define HIX_GPU_STATUS_ERROR (1u << 2)
#define HIX_GPU_STATUS_PROTECTED (1u << 3)
#define HIX_GPU_STATUS_RING (1u << 4)
#define HIX_GPU_STATUS_BUSY (1u << 5)

/* Device limits (CAPS). */
#define HIX_GPU_MAX_CONTEXTS 16u
#define HIX_GPU_KEY_SLOTS 8u
#define HIX_GPU_MAX_BUFFERS 256u
#define HIX_GPU_CAPS_BACKEND_CPU (1u << 16)
#define HIX_GPU_CAPS_BACKEND_CUDA (1u << 17)
#define HIX_GPU_CAPS_VALUE \
  (HIX_GPU_MAX_CONTEXTS | (HIX_GPU_KEY_SLOTS << 8) | HIX_GPU_CAPS_BACKEND_CPU)
#define HIX_GPU_KEY_BYTES 32u
#define HIX_GPU_VRAM_GRANULE 256u
#define HIX_GPU_RING_MAX_ENTRIES 4096u

/* Admin opcodes written to CMD (spec §4). */
enum hix_gpu_cmd {
  HIX_GPU_CMD_CHANNEL_KEY_INSTALL = 0x01,
  HIX_GPU_CMD_CHANNEL_KEY_CLEAR = 0x02,
  HIX_GPU_CMD_CTX_CREATE = 0x03,
  HIX_GPU_CMD_CTX_DESTROY = 0x04,
  HIX_GPU_CMD_KEY_SLOT_INSTALL = 0x05,
  HIX_GPU_CMD_KEY_SLOT_CLEAR = 0x06,
  HIX_GPU_CMD_MEM_ALLOC = 0x07,
  HIX_GPU_CMD_MEM_FREE = 0x08,
  HIX_GPU_CMD_RING_START = 0x09,
  HIX_GPU_CMD_RING_STOP = 0x0A,
  HIX_GPU_CMD_SCRUB = 0x0B,
  HIX_GPU_CMD_VRAM_INFO = 0x0C,
};

/* Value a refused read returns. */
#define HIX_GPU_REFUSED_READ 0xFFFFFFFFu

#endif /* HIX_ABI_HIX_GPU_REGS_H */
