// The tensor kernels' fatbin (tensor_kernels.cu, built by nvcc at build
// time), embedded in the library so create() loads it with no file lookup.
#include "tensor_fatbin.hpp"

// The assembler reads the fatbin in; CMake passes its path and makes this
// file depend on it.
asm(".section .rodata.hix_tensor_fatbin,\"a\",@progbits\n"
    ".balign 64\n"
    ".globl hix_tensor_fatbin_begin\n"
    ".hidden hix_tensor_fatbin_begin\n"
    "hix_tensor_fatbin_begin:\n"
    ".incbin \"" HIX_TENSOR_FATBIN_PATH
    "\"\n"
    ".globl hix_tensor_fatbin_end\n"
    ".hidden hix_tensor_fatbin_end\n"
    "hix_tensor_fatbin_end:\n"
    ".byte 0\n"
    ".previous\n");
