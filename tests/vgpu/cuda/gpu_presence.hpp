// Whether this machine has a CUDA GPU to run on. No device and no driver are
// reasons to skip (CI has no GPU); any other CUDA error is a failure.
#pragma once

#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <string>

namespace hix::vgpu::cuda::test {

enum class Gpu { present, absent, broken };

struct GpuProbe {
  Gpu state;
  std::string why;
};

inline GpuProbe probe_gpu() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e == cudaSuccess && count > 0) return {Gpu::present, ""};
  if (e == cudaSuccess || e == cudaErrorNoDevice) return {Gpu::absent, "no CUDA device"};
  if (e == cudaErrorInsufficientDriver) {
    // The runtime says the same for no driver at all and for one too old:
    // only the first is absence.
    void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (driver == nullptr) return {Gpu::absent, "no NVIDIA driver: libcuda.so.1 not found"};
    dlclose(driver);
  }
  return {Gpu::broken,
          std::string("cudaGetDeviceCount: ") + cudaGetErrorName(e) + ": " + cudaGetErrorString(e)};
}

}  // namespace hix::vgpu::cuda::test
