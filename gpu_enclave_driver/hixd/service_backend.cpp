// The session core in hixd's process (service_backend.hpp).
#include "service_backend.hpp"

namespace hix::hixd {

ServiceBackend::ServiceBackend(std::unique_ptr<session::Mmio> mmio,
                               std::unique_ptr<session::Platform> platform,
                               session::ServiceOptions options, std::string identity)
    : mmio_(std::move(mmio)),
      platform_(std::move(platform)),
      service_(std::make_unique<session::Service>(*mmio_, memory_, *platform_, options)),
      identity_(std::move(identity)) {}

// The service goes first: it refers to the seams.
ServiceBackend::~ServiceBackend() {
  service_.reset();
}

EntryResult ServiceBackend::init(gpu_enclave_init& io) {
  service_->init(io);
  return {};
}

EntryResult ServiceBackend::open(gpu_enclave_open& io) {
  service_->open(io);
  return {};
}

EntryResult ServiceBackend::call(std::span<std::uint8_t> buffer) {
  if (service_->call(buffer) != session::CallBuffer::ok) {
    return {Entry::refused, "bad_size"};
  }
  return {};
}

EntryResult ServiceBackend::drop(gpu_enclave_drop& io) {
  service_->drop(io);
  return {};
}

EntryResult ServiceBackend::stats(gpu_enclave_stats& out) {
  service_->stats(out);
  return {};
}

}  // namespace hix::hixd
