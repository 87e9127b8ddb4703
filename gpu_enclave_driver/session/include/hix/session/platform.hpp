// The platform seam (STYLE §10): randomness and EREPORT. Inside the enclave
// randomness is RDRAND (the SDK's randombytes) and reports come from
// ENCLU[EREPORT]; hixd's plain mode has no report; tests sign reports with a
// key of their own.
#pragma once

#include <cstdint>
#include <span>

#include "hix/abi/hix_isa.h"
#include "hix/abi/hix_session.h"

namespace hix::session {

using ReportData = std::span<const std::uint8_t, HIX_REPORT_DATA_SIZE>;
using ReportOut = std::span<std::uint8_t, HIX_SESSION_REPORT_BYTES>;

class Platform {
 public:
  virtual ~Platform() = default;
  // Fills `out` with secret random bytes (keys are drawn from it).
  virtual void random(std::span<std::uint8_t> out) = 0;
  // A report (struct hix_report) over `data`; false when the platform gives none.
  [[nodiscard]] virtual bool report(ReportData data, ReportOut out) = 0;

 protected:
  Platform() = default;
  Platform(const Platform&) = default;
  Platform& operator=(const Platform&) = default;
};

// libsodium's randombytes (RDRAND inside an SDK enclave, the OS outside) and
// no report: hixd's plain mode.
class SodiumPlatform : public Platform {
 public:
  void random(std::span<std::uint8_t> out) override;
  [[nodiscard]] bool report(ReportData data, ReportOut out) override;
};

}  // namespace hix::session
