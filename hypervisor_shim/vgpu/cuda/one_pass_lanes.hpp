// Threads per chunk of the one-pass open kernel (sealed_chunk_kernels.hpp,
// launch_open_chunks): the choices it is built for and the default, one
// definition for the kernels (nvcc) and the engine (host compiler), which
// includes no CUDA header.
#pragma once

#include <cstdint>

namespace hix::vgpu::cuda {

// Each thread of a full chunk takes 1024 / lanes keystream blocks (4096 /
// lanes Poly1305 blocks), 32 blocks apart (poly1305_field.hpp, "One pass
// over a full chunk"). Whole warps, powers of
// two (the lanes' tree, poly1305_field.hpp); they trade the tree's and the
// key's fixed cost per chunk (fewer lanes, more blocks each) against thread
// blocks in flight and the last wave's idle SMs. The default is the
// fastest engine call at every size measured
// (docs/performance.md, target 4, run J on an H100): 725 / 935 / 1026 GB/s
// at 64 / 256 / 1024 MiB with 128 lanes, 671 / 905 / 1014 with 64; the
// kernels alone at 1 GiB 1039 / 1035 / 987 / 876 at 64 / 128 / 256 / 512
// lanes, where a run of consecutive blocks a lane (the earlier layout,
// whose warps' loads fell a run apart) gave 602 / 649 / 804 / 773.
inline constexpr std::uint32_t kOnePassLaneChoices[] = {64, 128, 256, 512};
inline constexpr std::uint32_t kOnePassDefaultLanes = 128;

constexpr bool one_pass_lanes_supported(std::uint32_t lanes) {
  for (const std::uint32_t c : kOnePassLaneChoices) {
    if (c == lanes) return true;
  }
  return false;
}

static_assert(one_pass_lanes_supported(kOnePassDefaultLanes));

}  // namespace hix::vgpu::cuda
