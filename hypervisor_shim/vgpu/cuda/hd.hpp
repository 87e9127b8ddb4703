// Host-and-device function markers: the GPU crypto engine's arithmetic is
// compiled by nvcc for the kernels and by the host compiler for the host unit
// tests that check it against libsodium without a GPU.
#pragma once

#if defined(__CUDACC__)
#define HIX_HD __host__ __device__ __forceinline__
#else
#define HIX_HD inline
#endif

// Loop unrolling in the device pass only; the host compiler does not know
// the pragma (and -Wall says so).
#if defined(__CUDA_ARCH__)
#define HIX_UNROLL _Pragma("unroll")
#else
#define HIX_UNROLL
#endif
