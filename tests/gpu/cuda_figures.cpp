// Crypto-engine decrypt and device copy rates on the CUDA GPU (cuda_figures.hpp),
// timed as tests/vgpu/cuda/cuda_crypto_bench.cpp does: the engine's call by
// the host clock (what the device server waits), the copy by CUDA events.
#include "cuda_figures.hpp"

#include <cuda_runtime_api.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <vector>

#include "cuda_crypto_engine.hpp"
#include "sealed_chunk.hpp"

namespace hix::gpu_tools {
namespace {

using vgpu::Status;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

model::Error cuda_error(const char* what, cudaError_t e) {
  return model::fail(std::string(what) + ": " + cudaGetErrorString(e));
}

// cudaMalloc'd bytes, freed on scope exit.
class DeviceBytesOwner {
 public:
  explicit DeviceBytesOwner(std::uint64_t bytes) : size_(bytes) {
    void* p = nullptr;
    if (cudaMalloc(&p, bytes) == cudaSuccess) ptr_ = static_cast<std::byte*>(p);
  }
  ~DeviceBytesOwner() {
    if (ptr_ != nullptr) static_cast<void>(cudaFree(ptr_));
  }
  DeviceBytesOwner(const DeviceBytesOwner&) = delete;
  DeviceBytesOwner& operator=(const DeviceBytesOwner&) = delete;
  bool ok() const { return ptr_ != nullptr; }
  std::byte* data() const { return ptr_; }
  vgpu::cuda::DeviceBytes span() const { return vgpu::cuda::DeviceBytes(ptr_, size_); }

 private:
  std::byte* ptr_ = nullptr;
  std::uint64_t size_;
};

}  // namespace

model::Result<CudaFigures> measure_cuda_figures(std::uint64_t bytes, int reps) {
  CudaFigures f;
  f.bytes = bytes;
  cudaDeviceProp prop{};
  if (const cudaError_t e = cudaGetDeviceProperties(&prop, 0); e != cudaSuccess) {
    return cuda_error("device properties", e);
  }
  f.gpu = prop.name;
  auto engine = vgpu::cuda::CudaCryptoEngine::create();
  if (!engine)
    return model::fail("crypto engine: " + std::string(vgpu::to_string(engine.status())));
  const std::uint64_t sealed_bytes = vgpu::sealed_size(bytes);
  DeviceBytesOwner src(bytes), dst(bytes), sealed(sealed_bytes);
  if (!src.ok() || !dst.ok() || !sealed.ok()) return model::fail("cudaMalloc");

  std::vector<std::byte> host(bytes);
  randombytes_buf(host.data(), host.size());  // real data: zeros can run faster
  if (const cudaError_t e = cudaMemcpy(src.data(), host.data(), bytes, cudaMemcpyHostToDevice);
      e != cudaSuccess) {
    return cuda_error("upload", e);
  }
  std::array<std::uint8_t, vgpu::kKeyBytes> key{};
  randombytes_buf(key.data(), key.size());
  const vgpu::SealParams params{0, 0x6b656e6368};
  if ((*engine)->seal_tensor(sealed.span(), src.span(), params, key) != Status::ok) {
    return model::fail("sealing on the GPU");
  }

  std::vector<double> t;
  for (int i = 0; i < reps + 1; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const Status s = (*engine)->open_tensor(dst.span(), sealed.span(), params, key);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s != Status::ok) return model::fail("open_tensor: " + std::string(vgpu::to_string(s)));
    if (i > 0) t.push_back(dt);
  }
  f.decrypt_gbps = static_cast<double>(bytes) / median(t) / 1e9;
  std::vector<std::byte> back(bytes);
  if (const cudaError_t e = cudaMemcpy(back.data(), dst.data(), bytes, cudaMemcpyDeviceToHost);
      e != cudaSuccess) {
    return cuda_error("download", e);
  }
  f.roundtrip_ok = back == host;

  cudaStream_t stream = nullptr;
  cudaEvent_t a = nullptr;
  cudaEvent_t b = nullptr;
  if (cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) != cudaSuccess ||
      cudaEventCreate(&a) != cudaSuccess || cudaEventCreate(&b) != cudaSuccess) {
    return model::fail("stream/events");
  }
  t.clear();
  cudaError_t err = cudaSuccess;
  for (int i = 0; i < reps + 1 && err == cudaSuccess; ++i) {
    err = cudaEventRecord(a, stream);
    if (err == cudaSuccess) {
      err = cudaMemcpyAsync(dst.data(), src.data(), bytes, cudaMemcpyDeviceToDevice, stream);
    }
    if (err == cudaSuccess) err = cudaEventRecord(b, stream);
    if (err == cudaSuccess) err = cudaEventSynchronize(b);
    float ms = 0;
    if (err == cudaSuccess) err = cudaEventElapsedTime(&ms, a, b);
    if (i > 0) t.push_back(static_cast<double>(ms) / 1e3);
  }
  static_cast<void>(cudaEventDestroy(a));
  static_cast<void>(cudaEventDestroy(b));
  static_cast<void>(cudaStreamDestroy(stream));
  if (err != cudaSuccess) return cuda_error("device copy", err);
  f.d2d_copy_gbps = static_cast<double>(bytes) / median(t) / 1e9;
  sodium_memzero(key.data(), key.size());
  return f;
}

}  // namespace hix::gpu_tools
