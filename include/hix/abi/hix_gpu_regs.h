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

/* The BAR0 register file, one row per 32-bit register (spec §2), the one
 * list every table of registers is generated from: the C enum below, the QEMU
 * frontend's dispatch and the C++ typed view (hix/gpu/regs.hpp).
 *
 *   X(NAME, name, offset, access, reset value, home)
 *
 * access: ro (writes refused), rw (reads return the last write), wo (writes
 * take effect, reads return 0). home: frontend (served by the QEMU frontend
 * even without a device server, revision 1.0) or server (the device server,
 * revision 1.1). Reset values use the macros defined after the list; what
 * each register holds: the spec's table. */
/* clang-format off */
#define HIX_GPU_REGISTERS(X) \
  X(ID,               id,               0x0000, ro, HIX_GPU_ID_VALUE,      frontend) \
  X(VERSION,          version,          0x0004, ro, HIX_GPU_VERSION_VALUE, frontend) \
  X(STATUS,           status,           0x0008, ro, HIX_GPU_STATUS_READY,  frontend) \
  X(SCRATCH,          scratch,          0x000C, rw, 0u,                    frontend) \
  X(BADACC,           badacc,           0x0010, ro, 0u,                    frontend) \
  X(CAPS,             caps,             0x0014, ro, HIX_GPU_CAPS_VALUE,    server)   \
  X(CMD,              cmd,              0x0020, wo, 0u,                    server)   \
  X(CMD_STATUS,       cmd_status,       0x0024, ro, 0u,                    server)   \
  X(RESULT0,          result0,          0x0028, ro, 0u,                    server)   \
  X(RESULT1,          result1,          0x002C, ro, 0u,                    server)   \
  X(ARG0,             arg0,             0x0030, rw, 0u,                    server)   \
  X(ARG1,             arg1,             0x0034, rw, 0u,                    server)   \
  X(ARG2,             arg2,             0x0038, rw, 0u,                    server)   \
  X(ARG3,             arg3,             0x003C, rw, 0u,                    server)   \
  X(KEY0,             key0,             0x0040, wo, 0u,                    server)   \
  X(KEY1,             key1,             0x0044, wo, 0u,                    server)   \
  X(KEY2,             key2,             0x0048, wo, 0u,                    server)   \
  X(KEY3,             key3,             0x004C, wo, 0u,                    server)   \
  X(KEY4,             key4,             0x0050, wo, 0u,                    server)   \
  X(KEY5,             key5,             0x0054, wo, 0u,                    server)   \
  X(KEY6,             key6,             0x0058, wo, 0u,                    server)   \
  X(KEY7,             key7,             0x005C, wo, 0u,                    server)   \
  X(RING_BASE_LO,     ring_base_lo,     0x0060, rw, 0u,                    server)   \
  X(RING_BASE_HI,     ring_base_hi,     0x0064, rw, 0u,                    server)   \
  X(RING_SIZE,        ring_size,        0x0068, rw, 0u,                    server)   \
  X(DOORBELL,         doorbell,         0x0070, wo, 0u,                    server)   \
  X(RING_HEAD,        ring_head,        0x0074, ro, 0u,                    server)   \
  X(RING_SEQ,         ring_seq,         0x0078, ro, 1u,                    server)   \
  X(FENCE,            fence,            0x007C, ro, 0u,                    server)   \
  X(EXEC_ERRORS,      exec_errors,      0x0080, ro, 0u,                    server)   \
  X(LAST_ERROR,       last_error,       0x0084, ro, 0u,                    server)   \
  X(LAST_ERROR_FENCE, last_error_fence, 0x0088, ro, 0u,                    server)   \
  X(RING_FORGED,      ring_forged,      0x008C, ro, 0u,                    server)   \
  X(RING_REPLAYED,    ring_replayed,    0x0090, ro, 0u,                    server)   \
  X(RING_REORDERED,   ring_reordered,   0x0094, ro, 0u,                    server)   \
  X(RING_MALFORMED,   ring_malformed,   0x0098, ro, 0u,                    server)   \
  X(DMA_DENIED,       dma_denied,       0x009C, ro, 0u,                    server)   \
  X(AUTH_FAILURES,    auth_failures,    0x00A0, ro, 0u,                    server)   \
  X(CMD_REJECTS,      cmd_rejects,      0x00A4, ro, 0u,                    server)
/* clang-format on */

/* BAR0 register offsets. */
#define HIX_GPU_REG_ENUM_ROW(NAME, name, offset, access, reset, home) HIX_GPU_REG_##NAME = (offset),
enum hix_gpu_reg32 { HIX_GPU_REGISTERS(HIX_GPU_REG_ENUM_ROW) };
#undef HIX_GPU_REG_ENUM_ROW

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
