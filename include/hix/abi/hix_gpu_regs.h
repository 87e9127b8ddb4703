/* hix-gpu PCI identity and BAR0 register file (docs/specs/hix-gpu.md §1-§2).
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
  HIX_GPU_REG_ID = 0x0000,      /* RO: identification, HIX_GPU_ID_VALUE */
  HIX_GPU_REG_VERSION = 0x0004, /* RO: register-map revision */
  HIX_GPU_REG_STATUS = 0x0008,  /* RO: HIX_GPU_STATUS_* bits */
  HIX_GPU_REG_SCRATCH = 0x000C, /* RW: free for software */
  HIX_GPU_REG_BADACC = 0x0010,  /* RO: refused register accesses */
};

#define HIX_GPU_ID_VALUE 0x48495847u /* ASCII "HIXG", big-endian reading */
#define HIX_GPU_VERSION_MAJOR 1u
#define HIX_GPU_VERSION_MINOR 0u
#define HIX_GPU_VERSION_VALUE ((HIX_GPU_VERSION_MAJOR << 16) | HIX_GPU_VERSION_MINOR)

/* STATUS bits */
#define HIX_GPU_STATUS_READY (1u << 0)
#define HIX_GPU_STATUS_LOCKED (1u << 1)
#define HIX_GPU_STATUS_ERROR (1u << 2)

/* Value a refused read returns. */
#define HIX_GPU_REFUSED_READ 0xFFFFFFFFu

#endif /* HIX_ABI_HIX_GPU_REGS_H */
