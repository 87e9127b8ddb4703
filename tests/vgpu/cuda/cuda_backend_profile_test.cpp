// The cuda backend's per-kernel GPU times (kernel_profile.hpp,
// CudaBackendOptions::profile): launches counted and summed under their
// labels, the total over all of them, and a profiled backend running loops
// op by op (it offers no recording).
#include <cuda_runtime_api.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
#include <string>

#include "cuda_backend_rig.hpp"
#include "kernel_profile.hpp"

namespace hix::vgpu::cuda::test {
namespace {

// A profile's report (KernelProfile::report()).
struct Report {
  std::string text;
  // The launches column of `label`'s line, or -1.
  long long launches(const std::string& label) const {
    std::istringstream lines(text);
    const std::string prefix = "hix-cuda-profile: ";
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind(prefix, 0) != 0) continue;
      const std::string body = line.substr(prefix.size());
      if (body.size() < 56 || body.substr(0, label.size()) != label ||
          body.find_first_not_of(' ', label.size()) < 56) {
        continue;
      }
      return std::stoll(body.substr(56));
    }
    return -1;
  }
};

class KernelProfiling : public BackendTest {};

TEST_F(KernelProfiling, CountsEachLabelsLaunchesAndTheirTotal) {
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  void* buf = nullptr;
  ASSERT_EQ(cudaMalloc(&buf, 1 << 20), cudaSuccess);
  Report report;
  {
    KernelProfile profile;
    EXPECT_EQ(profile.report(), "") << "nothing has run";
    for (int i = 0; i < 3; ++i) {
      profile.begin(stream);
      ASSERT_EQ(cudaMemsetAsync(buf, i, 1 << 20, stream), cudaSuccess);
      profile.end(stream, "fill");
    }
    profile.begin(stream);
    ASSERT_EQ(cudaMemsetAsync(buf, 7, 1 << 10, stream), cudaSuccess);
    profile.end(stream, "small fill");
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    profile.collect();
    report.text = profile.report();
  }
  EXPECT_EQ(report.launches("fill"), 3) << report.text;
  EXPECT_EQ(report.launches("small fill"), 1) << report.text;
  EXPECT_EQ(report.launches("(all kernels)"), 4) << report.text;
  EXPECT_EQ(report.launches("copy"), -1) << report.text;
  static_cast<void>(cudaFree(buf));
  static_cast<void>(cudaStreamDestroy(stream));
}

TEST_F(KernelProfiling, MakesTheBackendRunLoopsOpByOp) {
  CudaBackendOptions options;
  options.profile = true;
  auto profiled = CudaBackend::create(16ull << 20, options);
  ASSERT_TRUE(profiled);
  EXPECT_FALSE((*profiled)->can_record());
  EXPECT_FALSE((*profiled)->can_record_iterations());
  auto plain = CudaBackend::create(16ull << 20);
  ASSERT_TRUE(plain);
  EXPECT_TRUE((*plain)->can_record());
}

}  // namespace
}  // namespace hix::vgpu::cuda::test
