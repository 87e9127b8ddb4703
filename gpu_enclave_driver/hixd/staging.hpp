// Staging memory (docs/specs/hix-isa.md §11.1, docs/specs/hix-session.md §6):
// pinned guest pages the hix-gpu may DMA, mapped into hixd, as physically
// contiguous extents. hixd gets one pool at start (HIX_IOC_STAGING), gives
// the enclave its ring area from it, and every session a window of it.
// StagingMemory is the seam (STYLE §10): the real pool from hix.ko, or host
// memory with made-up guest-physical addresses in tests.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace hix::hixd {

inline constexpr std::uint64_t kPage = 4096;

// Guest-physical and linear addresses are distinct types (STYLE §4).
struct GuestPhys {
  std::uint64_t value = 0;
};

// One physically contiguous piece of the pool.
struct StagingExtent {
  std::uint64_t offset = 0;  // from the start of the pool (and its mapping)
  GuestPhys gpa;
  std::uint64_t length = 0;
};

class StagingMemory {
 public:
  virtual ~StagingMemory() = default;
  // The whole pool, mapped in this process.
  virtual std::span<std::uint8_t> bytes() = 0;
  // Its extents, in order, tiling [0, bytes().size()).
  virtual std::span<const StagingExtent> extents() const = 0;

 protected:
  StagingMemory() = default;
  StagingMemory(const StagingMemory&) = default;
  StagingMemory& operator=(const StagingMemory&) = default;
};

// HIX_IOC_STAGING on /dev/hix, mapped shared. nullptr and `why` on failure.
std::unique_ptr<StagingMemory> hix_staging(std::uint64_t bytes, std::string& why,
                                           const char* dev = "/dev/hix");

// The size of host staging memory and of each of its extents.
struct HostStagingShape {
  std::uint64_t bytes;
  std::uint64_t extent_bytes;
};

// Host memory standing in for staging memory (tests, the fuzz harness):
// anonymous pages split into extents of `extent_bytes`, whose made-up
// guest-physical addresses start at `gpa_base` and leave a gap of one page
// between extents (so nothing may assume the pool is contiguous).
std::unique_ptr<StagingMemory> host_staging(HostStagingShape shape, GuestPhys gpa_base);

}  // namespace hix::hixd
