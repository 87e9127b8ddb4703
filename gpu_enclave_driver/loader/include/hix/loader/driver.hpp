// The loader's seam to the OS driver (docs/specs/hix-isa.md §11): the real
// one talks to /dev/hix; tests substitute an in-process platform.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "hix/abi/hix_ioctl.h"
#include "hix/loader/enclave_image.hpp"
#include "hix/loader/status.hpp"

namespace hix::loader {

class EnclaveDriver {
 public:
  virtual ~EnclaveDriver() = default;

  // HIX_IOC_INFO.
  virtual Result<hix_ioc_info> info() = 0;
  // HIX_IOC_CREATE.
  virtual Outcome create(const hix_ioc_create& request) = 0;
  // HIX_IOC_ADD_PAGES; fills request.status and request.count.
  virtual Outcome add_pages(hix_ioc_add_pages& request) = 0;
  // HIX_IOC_INIT; fills result.status.
  virtual Outcome init(hix_ioc_init& result) = 0;
  // mmap of exactly ELRANGE, so every added page appears at its linear address.
  virtual Outcome map(LinearAddress base, std::uint64_t size) = 0;
  // HIX_IOC_GLOCK (spec §11, §12); fills request.status. Drivers without
  // device locks refuse.
  virtual Outcome glock(hix_ioc_glock& request) {
    request.status = 0;
    return {Status::lock_failed, "this driver has no HIX_IOC_GLOCK"};
  }
};

// /dev/hix. Closing it (the destructor) destroys the enclave.
class DevHix final : public EnclaveDriver {
 public:
  static constexpr const char* kDefaultPath = "/dev/hix";

  static Result<std::unique_ptr<DevHix>> open(const std::string& path = kDefaultPath);
  ~DevHix() override;
  DevHix(const DevHix&) = delete;
  DevHix& operator=(const DevHix&) = delete;

  Result<hix_ioc_info> info() override;
  Outcome create(const hix_ioc_create& request) override;
  Outcome add_pages(hix_ioc_add_pages& request) override;
  Outcome init(hix_ioc_init& result) override;
  Outcome map(LinearAddress base, std::uint64_t size) override;
  Outcome glock(hix_ioc_glock& request) override;

 private:
  explicit DevHix(int fd) : fd_(fd) {}
  int fd_ = -1;
  void* mapping_ = nullptr;
  std::uint64_t mapping_size_ = 0;
};

}  // namespace hix::loader
