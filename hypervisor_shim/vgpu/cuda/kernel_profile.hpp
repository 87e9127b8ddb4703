// The cuda backend's GPU time per kernel (CudaBackendOptions::profile): an
// event pair around every launch, read once the stream has been
// synchronised, summed by label. The events bracket the launch alone, so a
// host that falls behind the GPU adds nothing to a kernel's time; the time
// between kernels is what a step takes beyond the sum. Host-compiler only.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hix::vgpu::cuda {

class KernelProfile {
 public:
  KernelProfile() = default;
  KernelProfile(const KernelProfile&) = delete;
  KernelProfile& operator=(const KernelProfile&) = delete;
  ~KernelProfile();

  // Around one launch on `stream`: begin() before it, end() after it.
  void begin(cudaStream_t stream);
  void end(cudaStream_t stream, const std::string& label);
  // After the stream has been synchronised: every bracketed launch's time
  // into its label's sum.
  void collect();
  // One line a label, the longest total first: launches, total ms, mean
  // microseconds and share of all kernels' time; "" when nothing ran.
  std::string report() const;

 private:
  struct Pending {
    cudaEvent_t start;
    cudaEvent_t stop;
    std::string label;
  };
  struct Sum {
    std::uint64_t count = 0;
    double ms = 0.0;
  };
  cudaEvent_t take();

  std::vector<cudaEvent_t> free_;
  std::vector<Pending> pending_;
  cudaEvent_t open_ = nullptr;
  std::map<std::string, Sum> sums_;
};

}  // namespace hix::vgpu::cuda
