// Device and pinned host buffers for the GPU test and benchmark (RAII over
// cudaMalloc / cudaMallocHost; a failed allocation leaves a null buffer).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "cuda_crypto_engine.hpp"

namespace hix::vgpu::cuda::test {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::uint64_t bytes) : size_(bytes) {
    void* p = nullptr;
    if (cudaMalloc(&p, bytes) == cudaSuccess) ptr_ = static_cast<std::byte*>(p);
  }
  ~DeviceBuffer() {
    if (ptr_ != nullptr) static_cast<void>(cudaFree(ptr_));
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(size_, o.size_);
    return *this;
  }
  bool ok() const { return ptr_ != nullptr; }
  std::byte* data() const { return ptr_; }
  std::uint64_t size() const { return size_; }
  DeviceBytes span(std::uint64_t offset, std::uint64_t bytes) const {
    return DeviceBytes(ptr_ + offset, bytes);
  }

 private:
  std::byte* ptr_ = nullptr;
  std::uint64_t size_ = 0;
};

class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(std::uint64_t bytes) : size_(bytes) {
    void* p = nullptr;
    if (cudaMallocHost(&p, bytes) == cudaSuccess) ptr_ = static_cast<std::byte*>(p);
  }
  ~PinnedBuffer() {
    if (ptr_ != nullptr) static_cast<void>(cudaFreeHost(ptr_));
  }
  PinnedBuffer(PinnedBuffer&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(size_, o.size_);
    return *this;
  }
  bool ok() const { return ptr_ != nullptr; }
  std::byte* data() const { return ptr_; }
  std::uint64_t size() const { return size_; }
  std::span<std::byte> span() const { return {ptr_, size_}; }

 private:
  std::byte* ptr_ = nullptr;
  std::uint64_t size_ = 0;
};

}  // namespace hix::vgpu::cuda::test
