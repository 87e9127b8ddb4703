// The CUDA Driver API entry points the cuda backend uses, fetched from the
// CUDA runtime (cudaGetDriverEntryPointByVersion) rather than linked: a
// program with the backend starts where there is no driver, and create()
// answers unavailable there. Host-compiler only; never in public headers.
#pragma once

#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime_api.h>

namespace hix::vgpu::cuda {

struct DriverApi {
  PFN_cuDeviceGet_v2000 device_get = nullptr;
  PFN_cuDeviceGetAttribute_v2000 device_get_attribute = nullptr;
  PFN_cuDevicePrimaryCtxRetain_v7000 primary_ctx_retain = nullptr;
  PFN_cuDevicePrimaryCtxRelease_v11000 primary_ctx_release = nullptr;
  PFN_cuCtxSetCurrent_v4000 ctx_set_current = nullptr;
  PFN_cuModuleLoadData_v2000 module_load_data = nullptr;
  PFN_cuModuleUnload_v2000 module_unload = nullptr;
  PFN_cuModuleGetFunction_v2000 module_get_function = nullptr;
  PFN_cuFuncSetAttribute_v9000 func_set_attribute = nullptr;
  PFN_cuStreamCreate_v2000 stream_create = nullptr;
  PFN_cuStreamDestroy_v4000 stream_destroy = nullptr;
  PFN_cuStreamSynchronize_v2000 stream_synchronize = nullptr;
  PFN_cuMemAlloc_v3020 mem_alloc = nullptr;
  PFN_cuMemFree_v3020 mem_free = nullptr;
  PFN_cuMemsetD8Async_v3020 memset_d8_async = nullptr;
  PFN_cuMemsetD32Async_v3020 memset_d32_async = nullptr;
  PFN_cuMemcpyHtoDAsync_v3020 memcpy_htod_async = nullptr;
  PFN_cuMemcpyDtoHAsync_v3020 memcpy_dtoh_async = nullptr;
  PFN_cuMemHostRegister_v6050 mem_host_register = nullptr;
  PFN_cuMemHostUnregister_v4000 mem_host_unregister = nullptr;
  PFN_cuLaunchKernel_v4000 launch_kernel = nullptr;
  // Optional (launch attributes, for programmatic dependent launch): null
  // where the driver lacks it.
  PFN_cuLaunchKernelEx_v11060 launch_kernel_ex = nullptr;
  PFN_cuOccupancyMaxActiveBlocksPerMultiprocessor_v6050 occupancy = nullptr;
  PFN_cuStreamBeginCapture_v10010 stream_begin_capture = nullptr;
  PFN_cuStreamEndCapture_v10000 stream_end_capture = nullptr;
  PFN_cuGraphInstantiateWithFlags_v11040 graph_instantiate = nullptr;
  PFN_cuGraphLaunch_v10000 graph_launch = nullptr;
  PFN_cuGraphDestroy_v10000 graph_destroy = nullptr;
  PFN_cuGraphExecDestroy_v10000 graph_exec_destroy = nullptr;

  // Fetches every entry point; false when one is missing (no driver, or
  // one too old for the version asked).
  bool load() {
    if (!get("cuLaunchKernelEx", launch_kernel_ex, 11060)) launch_kernel_ex = nullptr;
    return get("cuDeviceGet", device_get, 2000) &&
           get("cuDeviceGetAttribute", device_get_attribute, 2000) &&
           get("cuDevicePrimaryCtxRetain", primary_ctx_retain, 7000) &&
           get("cuDevicePrimaryCtxRelease", primary_ctx_release, 11000) &&
           get("cuCtxSetCurrent", ctx_set_current, 4000) &&
           get("cuModuleLoadData", module_load_data, 2000) &&
           get("cuModuleUnload", module_unload, 2000) &&
           get("cuModuleGetFunction", module_get_function, 2000) &&
           get("cuFuncSetAttribute", func_set_attribute, 9000) &&
           get("cuStreamCreate", stream_create, 2000) &&
           get("cuStreamDestroy", stream_destroy, 4000) &&
           get("cuStreamSynchronize", stream_synchronize, 2000) &&
           get("cuMemAlloc", mem_alloc, 3020) && get("cuMemFree", mem_free, 3020) &&
           get("cuMemsetD8Async", memset_d8_async, 3020) &&
           get("cuMemsetD32Async", memset_d32_async, 3020) &&
           get("cuMemcpyHtoDAsync", memcpy_htod_async, 3020) &&
           get("cuMemcpyDtoHAsync", memcpy_dtoh_async, 3020) &&
           get("cuMemHostRegister", mem_host_register, 6050) &&
           get("cuMemHostUnregister", mem_host_unregister, 4000) &&
           get("cuLaunchKernel", launch_kernel, 4000) &&
           get("cuOccupancyMaxActiveBlocksPerMultiprocessor", occupancy, 6050) &&
           get("cuStreamBeginCapture", stream_begin_capture, 10010) &&
           get("cuStreamEndCapture", stream_end_capture, 10000) &&
           get("cuGraphInstantiateWithFlags", graph_instantiate, 11040) &&
           get("cuGraphLaunch", graph_launch, 10000) &&
           get("cuGraphDestroy", graph_destroy, 10000) &&
           get("cuGraphExecDestroy", graph_exec_destroy, 10000);
  }

 private:
  // `version` is the CUDA version whose ABI of the symbol the PFN type
  // describes (its _vNNNN suffix).
  template <class Fn>
  static bool get(const char* symbol, Fn& fn, unsigned version) {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
    if (cudaGetDriverEntryPointByVersion(symbol, &p, version, cudaEnableDefault, &found) !=
            cudaSuccess ||
        found != cudaDriverEntryPointSuccess || p == nullptr) {
      static_cast<void>(cudaGetLastError());
      return false;
    }
    fn = reinterpret_cast<Fn>(p);  // the driver's function of exactly this ABI version
    return true;
  }
};

}  // namespace hix::vgpu::cuda
