// The untrusted-memory seam (STYLE §10): where the core writes ring entries
// and encrypted command buffers (the ring area hixd gives at INIT). Only
// ciphertext and authenticated entries go there, and the core never reads
// anything back from it: untrusted memory may change at any time.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>

#include "hix/session/addr.hpp"

namespace hix::session {

class UntrustedMemory {
 public:
  virtual ~UntrustedMemory() = default;
  // Whether [at, at + len) is memory the core may write on its host's
  // behalf: inside the enclave, it must lie entirely outside ELRANGE.
  [[nodiscard]] virtual bool accepts(Linear at, std::uint64_t len) const = 0;
  // Copies `bytes` to `at`, a range accepts() allowed.
  virtual void write(Linear at, std::span<const std::uint8_t> bytes) = 0;

 protected:
  UntrustedMemory() = default;
  UntrustedMemory(const UntrustedMemory&) = default;
  UntrustedMemory& operator=(const UntrustedMemory&) = default;
};

// Linear addresses are pointers in this process (hixd's plain mode; tests,
// where a host buffer stands for guest RAM). Accepts any non-empty range that
// does not wrap.
class ProcessMemory final : public UntrustedMemory {
 public:
  [[nodiscard]] bool accepts(Linear at, std::uint64_t len) const override {
    return at.value != 0 && valid_range(at.value, len);
  }
  void write(Linear at, std::span<const std::uint8_t> bytes) override {
    // reinterpret_cast: a linear address of this process is a pointer.
    // NOLINTNEXTLINE(performance-no-int-to-ptr)
    void* to = reinterpret_cast<void*>(at.value);
    std::memcpy(to, bytes.data(), bytes.size());
  }
};

}  // namespace hix::session
