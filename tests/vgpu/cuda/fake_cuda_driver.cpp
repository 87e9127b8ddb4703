// A broken NVIDIA driver for tests: a libcuda.so.1 whose cuInit fails with
// CUDA_ERROR_UNKNOWN. Put first on LD_LIBRARY_PATH, it stands for a driver
// that is installed but does not work, which hix-cuda-backend-test must
// report as a failure, not as "no GPU" (gpu_presence.hpp).

namespace {

// The driver API's CUDA_ERROR_UNKNOWN and CUDA_SUCCESS (cuda.h).
constexpr int kCudaErrorUnknown = 999;
constexpr int kCudaSuccess = 0;
// What cuDriverGetVersion reports: 13.0, new enough for the runtime, so the
// failure is cuInit's and not a version mismatch.
constexpr int kDriverVersion = 13000;

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int cuInit(unsigned int /*flags*/) {
  return kCudaErrorUnknown;
}

__attribute__((visibility("default"))) int cuDriverGetVersion(int* version) {
  if (version != nullptr) *version = kDriverVersion;
  return kCudaSuccess;
}

}  // extern "C"
