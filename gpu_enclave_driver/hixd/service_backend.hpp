// The session core (hix::session::Service) in hixd's own process, as a
// Backend: plain mode in the guest (BAR0 through a sysfs mapping, §10), and
// the host tests (an in-process device behind the Mmio seam, either mode).
#pragma once

#include <memory>
#include <string>

#include "backend.hpp"
#include "hix/session/mmio.hpp"
#include "hix/session/platform.hpp"
#include "hix/session/service.hpp"
#include "hix/session/untrusted_memory.hpp"

namespace hix::hixd {

class ServiceBackend final : public Backend {
 public:
  // `identity`: what the ready line names ("plain", or a test's mrenclave).
  ServiceBackend(std::unique_ptr<session::Mmio> mmio, std::unique_ptr<session::Platform> platform,
                 session::ServiceOptions options, std::string identity);
  ~ServiceBackend() override;
  ServiceBackend(const ServiceBackend&) = delete;
  ServiceBackend& operator=(const ServiceBackend&) = delete;

  bool plain() const override { return service_->mode() == session::Mode::plain; }
  std::string identity() const override { return identity_; }
  EntryResult init(gpu_enclave_init& io) override;
  EntryResult open(gpu_enclave_open& io) override;
  EntryResult call(std::span<std::uint8_t> buffer) override;
  EntryResult drop(gpu_enclave_drop& io) override;
  EntryResult stats(gpu_enclave_stats& out) override;

  session::Service& service() { return *service_; }

 private:
  std::unique_ptr<session::Mmio> mmio_;
  std::unique_ptr<session::Platform> platform_;
  session::ProcessMemory memory_;
  std::unique_ptr<session::Service> service_;  // large: on the heap
  std::string identity_;
};

}  // namespace hix::hixd
