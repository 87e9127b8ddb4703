// Figures measured on the CUDA GPU directly, next to the device's own: the
// crypto engine opening a sealed tensor already in device memory, and a
// plain device-to-device copy of the same size (the bandwidth bound every
// other figure is compared with). No CUDA types here.
#pragma once

#include <cstdint>
#include <string>

#include "model.hpp"

namespace hix::gpu_tools {

struct CudaFigures {
  std::string gpu;
  std::uint64_t bytes = 0;
  double decrypt_gbps = 0;   // CudaCryptoEngine::open_tensor, device to device
  double d2d_copy_gbps = 0;  // cudaMemcpyAsync device to device
  bool roundtrip_ok = false;
};

// Medians of `reps` runs after one untimed run. unavailable-like failures
// (no GPU) come back as errors with the reason.
model::Result<CudaFigures> measure_cuda_figures(std::uint64_t bytes, int reps);

}  // namespace hix::gpu_tools
