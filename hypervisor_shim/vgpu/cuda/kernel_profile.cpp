// GPU time per kernel for the cuda backend (kernel_profile.hpp).
#include "kernel_profile.hpp"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace hix::vgpu::cuda {

KernelProfile::~KernelProfile() {
  for (const Pending& p : pending_) {
    static_cast<void>(cudaEventDestroy(p.start));
    static_cast<void>(cudaEventDestroy(p.stop));
  }
  if (open_ != nullptr) static_cast<void>(cudaEventDestroy(open_));
  for (cudaEvent_t e : free_) static_cast<void>(cudaEventDestroy(e));
}

cudaEvent_t KernelProfile::take() {
  if (!free_.empty()) {
    cudaEvent_t e = free_.back();
    free_.pop_back();
    return e;
  }
  cudaEvent_t e = nullptr;
  if (cudaEventCreate(&e) != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    return nullptr;
  }
  return e;
}

void KernelProfile::begin(cudaStream_t stream) {
  if (open_ == nullptr) open_ = take();
  if (open_ != nullptr) static_cast<void>(cudaEventRecord(open_, stream));
}

void KernelProfile::end(cudaStream_t stream, const std::string& label) {
  cudaEvent_t stop = take();
  if (open_ == nullptr || stop == nullptr) {
    if (stop != nullptr) free_.push_back(stop);
    return;
  }
  static_cast<void>(cudaEventRecord(stop, stream));
  pending_.push_back(Pending{open_, stop, label});
  open_ = nullptr;
}

void KernelProfile::collect() {
  for (const Pending& p : pending_) {
    float ms = 0.0F;
    if (cudaEventElapsedTime(&ms, p.start, p.stop) == cudaSuccess) {
      Sum& s = sums_[p.label];
      ++s.count;
      s.ms += ms;
    } else {
      static_cast<void>(cudaGetLastError());
    }
    free_.push_back(p.start);
    free_.push_back(p.stop);
  }
  pending_.clear();
}

std::string KernelProfile::report() const {
  std::vector<std::pair<std::string, Sum>> rows(sums_.begin(), sums_.end());
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
  double all = 0.0;
  std::uint64_t launches = 0;
  for (const auto& [label, s] : rows) {
    all += s.ms;
    launches += s.count;
  }
  if (rows.empty()) return "";
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "hix-cuda-profile: %-56s %9s %11s %9s %6s\n", "kernel",
                "launches", "total ms", "mean us", "share");
  out += line;
  for (const auto& [label, s] : rows) {
    std::snprintf(line, sizeof line, "hix-cuda-profile: %-56s %9llu %11.3f %9.2f %6.3f\n",
                  label.c_str(), static_cast<unsigned long long>(s.count), s.ms,
                  1000.0 * s.ms / static_cast<double>(s.count), all > 0 ? s.ms / all : 0.0);
    out += line;
  }
  std::snprintf(line, sizeof line, "hix-cuda-profile: %-56s %9llu %11.3f\n", "(all kernels)",
                static_cast<unsigned long long>(launches), all);
  out += line;
  return out;
}

}  // namespace hix::vgpu::cuda
