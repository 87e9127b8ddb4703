// Staging memory: hix.ko's HIX_IOC_STAGING, and host memory for tests
// (staging.hpp).
#include "staging.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "hix/abi/hix_ioctl.h"

namespace hix::hixd {
namespace {

// A shared or anonymous mapping and the extents that describe it.
class MappedStaging final : public StagingMemory {
 public:
  MappedStaging(void* base, std::uint64_t size, std::vector<StagingExtent> extents, int fd)
      : base_(base), size_(size), extents_(std::move(extents)), fd_(fd) {}
  ~MappedStaging() override {
    ::munmap(base_, size_);
    if (fd_ >= 0) ::close(fd_);
  }
  MappedStaging(const MappedStaging&) = delete;
  MappedStaging& operator=(const MappedStaging&) = delete;

  std::span<std::uint8_t> bytes() override { return {static_cast<std::uint8_t*>(base_), size_}; }
  std::span<const StagingExtent> extents() const override { return extents_; }

 private:
  void* base_;
  std::uint64_t size_;
  std::vector<StagingExtent> extents_;
  int fd_;
};

}  // namespace

std::unique_ptr<StagingMemory> hix_staging(std::uint64_t bytes, std::string& why, const char* dev) {
  const int hix = ::open(dev, O_RDWR | O_CLOEXEC);
  if (hix < 0) {
    why = std::string(dev) + ": " + std::strerror(errno);
    return nullptr;
  }
  hix_ioc_staging req{};
  req.size = bytes;
  const int rc = ::ioctl(hix, HIX_IOC_STAGING, &req);
  const int err = errno;
  // The buffer is a file of its own; /dev/hix's file is not needed again.
  ::close(hix);
  if (rc != 0) {
    why = "HIX_IOC_STAGING of " + std::to_string(bytes >> 20) + " MiB: " + std::strerror(err);
    return nullptr;
  }
  if (req.extent_count == 0 || req.extent_count > HIX_STAGING_MAX_EXTENTS) {
    ::close(req.fd);
    why = "HIX_IOC_STAGING returned " + std::to_string(req.extent_count) + " extents";
    return nullptr;
  }
  std::vector<StagingExtent> extents;
  std::uint64_t at = 0;
  for (std::uint32_t i = 0; i < req.extent_count; ++i) {
    const hix_staging_extent& e = req.extents[i];
    if (e.offset != at || e.length == 0 || e.length % kPage != 0 || e.gpa % kPage != 0) {
      ::close(req.fd);
      why = "HIX_IOC_STAGING: extent " + std::to_string(i) + " does not tile the buffer";
      return nullptr;
    }
    extents.push_back({e.offset, GuestPhys{e.gpa}, e.length});
    at += e.length;
  }
  if (at != bytes) {
    ::close(req.fd);
    why = "HIX_IOC_STAGING: extents cover " + std::to_string(at) + " bytes";
    return nullptr;
  }
  // MAP_POPULATE: every page mapped now. The enclave writes the ring area
  // through this mapping, and an enclave-mode page fault aborts the enclave
  // (hix-isa §3) instead of being served.
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, req.fd, 0);
  if (p == MAP_FAILED) {
    why = std::string("mmap of the staging buffer: ") + std::strerror(errno);
    ::close(req.fd);
    return nullptr;
  }
  return std::make_unique<MappedStaging>(p, bytes, std::move(extents), req.fd);
}

std::unique_ptr<StagingMemory> host_staging(HostStagingShape shape, GuestPhys gpa_base) {
  const std::uint64_t bytes = shape.bytes;
  const std::uint64_t extent_bytes = shape.extent_bytes;
  if (bytes == 0 || bytes % kPage != 0 || extent_bytes == 0 || extent_bytes % kPage != 0) {
    return nullptr;
  }
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  std::vector<StagingExtent> extents;
  std::uint64_t gpa = gpa_base.value;
  for (std::uint64_t at = 0; at < bytes; at += extent_bytes) {
    const std::uint64_t len = std::min(extent_bytes, bytes - at);
    extents.push_back({at, GuestPhys{gpa}, len});
    gpa += len + kPage;
  }
  return std::make_unique<MappedStaging>(p, bytes, std::move(extents), -1);
}

}  // namespace hix::hixd
