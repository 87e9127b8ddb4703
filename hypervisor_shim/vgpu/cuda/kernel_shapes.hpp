// The launch shapes the tensor kernels (tensor_kernels.cu, nvcc) are written
// for and the backend (cuda_backend.cpp, host compiler) launches them with:
// one definition for both sides.
#pragma once

namespace hix::vgpu::cuda::shapes {

inline constexpr unsigned kGemvWarps = 8;          // warps per GEMV block, one row each
inline constexpr unsigned kGemvNtCols = 32;        // output columns per transposed-GEMV block
inline constexpr unsigned kGemvNtSlices = 16;      // K slices per transposed-GEMV block
inline constexpr unsigned kGemmTile = 64;          // output tile edge of the tiled GEMM
inline constexpr unsigned kGemmK = 16;             // K step of the tiled GEMM
inline constexpr unsigned kAttWarps = 8;           // warps per attention block
inline constexpr unsigned kAttKeys = 32;           // keys per attention tile
inline constexpr unsigned kAttMaxDimsPerLane = 8;  // head dims per lane: head_dim <= 32 * this
inline constexpr unsigned kSampleThreads = 1024;   // threads of the sampling block
inline constexpr unsigned kSampleSortMax = 1024;   // top-k candidates sorted in shared memory

}  // namespace hix::vgpu::cuda::shapes
